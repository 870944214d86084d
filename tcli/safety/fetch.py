"""The one HTTP(S) download of tc (``tc weights add|pull``): bounded, hashed, redirect-checked.

Only a command whose job is to download calls this, with a URL the user named (never because
of what a project, a ZIP or a dataset says). The promises:

- ``http``/``https`` only; a URL carrying a user name or password is refused (it would be
  written into ``weights.lock`` and uploaded); a redirect never downgrades https to http;
- redirects (at most :data:`MAX_REDIRECTS`) are checked hop by hop: from a loopback host only to
  a loopback host (``localhost`` or a loopback address, no name resolution), and never from a
  non-loopback host into a loopback, private, link-local or reserved address (resolved);
- a ``Content-Length`` over the cap is refused before the body is read; the bytes really read
  are counted against the cap (and against the expected size when one is known);
- every socket operation has a timeout; the body is streamed to a temporary file beside the
  final place, sha256 computed on the way (memory does not grow with the file).

Every refusal or failure is an :class:`~tcli.errors.InputError` (exit 2) with one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tcli import __version__
from tcli.errors import InputError
from tcli.safety import atomic

MAX_REDIRECTS = 5
BLOCK = 1 << 20
#: Default cap of one download: 4 GiB (the largest torchvision weights are under 2.5 GiB).
DEFAULT_MAX_BYTES = 4 << 30
DEFAULT_TIMEOUT_S = 60.0


class FetchRefused(InputError):
    """A URL, a redirect or a response tc will not follow or keep (exit 2)."""


@dataclass(frozen=True)
class Fetched:
    """A finished download: the temporary file (the caller moves or deletes it)."""

    path: Path
    size: int
    sha256: str
    final_url: str


def check_url(url: str, what: str = "URL") -> urllib.parse.SplitResult:
    """``url`` split, or FetchRefused: http(s) with a host, no credentials, no control chars."""
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise FetchRefused(f"{what} {url!r}: has a space or a control character",
                           "give a plain http(s) URL")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(f"{what} {url!r}: only http and https are downloaded",
                           "give an http(s) URL, or the path of a local file (not file://)")
    if not parts.hostname:
        raise FetchRefused(f"{what} {url!r}: has no host", "give a full http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused(f"{what}: carries a user name or password, which would be recorded "
                           "in weights.lock and uploaded", "give a URL without credentials")
    return parts


def host_class(host: str, *, resolve: bool = True) -> str:
    """``loopback``, ``private`` (also link-local, reserved, unspecified) or ``public``;
    ``unknown`` for a name when ``resolve`` is False or it does not resolve."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    try:
        addrs = [ipaddress.ip_address(name)]
    except ValueError:
        if not resolve:
            return "unknown"
        try:
            infos = socket.getaddrinfo(name, None)
        except (OSError, UnicodeError):
            return "unknown"
        addrs = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if any(a.is_loopback for a in addrs):
        return "loopback"
    if any(a.is_private or a.is_link_local or a.is_reserved or a.is_unspecified
           or a.is_multicast for a in addrs):
        return "private"
    return "public"


def check_redirect(origin: str, target: str) -> None:
    """FetchRefused unless a redirect from ``origin`` to ``target`` is allowed (module doc)."""
    src = urllib.parse.urlsplit(origin)
    dst = check_url(target, "redirect to")
    if src.scheme == "https" and dst.scheme != "https":
        raise FetchRefused(f"redirect from {origin} to {target} refused: https to http",
                           "use a URL that stays on https")
    src_class = host_class(src.hostname or "", resolve=False)
    if src_class == "loopback":
        if host_class(dst.hostname or "", resolve=False) != "loopback":
            raise FetchRefused(f"redirect from {origin} to {target} refused: it leaves the "
                               "loopback host", "download from the final URL directly if you "
                               "trust it")
        return
    dst_class = host_class(dst.hostname or "")
    if dst_class in ("loopback", "private", "unknown") and dst_class != host_class(
            src.hostname or ""):
        raise FetchRefused(f"redirect from {origin} to {target} refused: it points into a "
                           f"{dst_class} address", "download from a URL you trust directly")


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS
    max_repeats = 2

    def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                       headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:  # checked before urllib looks at it (its own refusals are less clear)
            check_redirect(req.full_url, urllib.parse.urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(parts: urllib.parse.SplitResult) -> urllib.request.OpenerDirector:
    # a loopback URL never goes through a proxy; others honour the *_proxy variables
    loopback = host_class(parts.hostname or "", resolve=False) == "loopback"
    proxies: dict[str, str] | None = {} if loopback else None
    handlers: list[Any] = [urllib.request.ProxyHandler(proxies), _Redirects()]
    opener = urllib.request.OpenerDirector()
    for cls in (urllib.request.HTTPHandler, urllib.request.HTTPSHandler,
                urllib.request.HTTPDefaultErrorHandler, urllib.request.HTTPErrorProcessor):
        opener.add_handler(cls())
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def download(url: str, dest_dir: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
             expected_size: int | None = None,
             timeout_s: float = DEFAULT_TIMEOUT_S) -> Fetched:
    """Stream ``url`` into a temporary file in ``dest_dir``; see the module docstring."""
    parts = check_url(url)
    limit = max_bytes if expected_size is None else min(max_bytes, expected_size)
    request = urllib.request.Request(url, headers={"User-Agent": f"tc/{__version__}"})
    try:
        response = _opener(parts).open(request, timeout=timeout_s)
    except FetchRefused:
        raise
    except urllib.error.HTTPError as exc:
        raise InputError(f"{url}: HTTP {exc.code} {exc.reason}", "check the URL") from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"{url}: cannot download: {reason}",
                         "check the URL and your network (proxy: HTTPS_PROXY)") from None
    with contextlib.closing(response):
        length = response.headers.get("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            raise FetchRefused(f"{url}: Content-Length {int(length)} bytes is over the limit of "
                               f"{limit} bytes", "raise --max-size if you trust this file")
        digest, total = hashlib.sha256(), 0
        try:
            with atomic.staged_file(dest_dir, ".download.") as (out, tmp):
                while chunk := response.read(BLOCK):
                    total += len(chunk)
                    if total > limit:
                        raise FetchRefused(f"{url}: more than the limit of {limit} bytes",
                                           "raise --max-size if you trust this file")
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException) as exc:
            raise InputError(f"{url}: download failed after {total} bytes: {exc}",
                             "run it again; check your network") from None
        return Fetched(tmp, total, digest.hexdigest(), response.geturl())
