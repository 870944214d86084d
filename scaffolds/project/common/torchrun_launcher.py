# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Start train.py under torchrun and end with the exit status a container runtime expects.

Run by docker-entrypoint.sh from the workspace (``/workspace`` in the image)::

    python torchrun_launcher.py ARGV_FILE [torchrun options ...]

``ARGV_FILE`` holds train.py's argv list as JSON (``config_to_args.py --print``); it is read
and removed first. The command line ``torchrun <options> train.py <argv>`` is printed, then
torch's own launcher (``torch.distributed.run.main``) runs it.

Exit status: 0 when every process succeeded; the first failing process's exit code (a
process killed by signal N gives 128 + N); and when the launcher itself got SIGTERM/SIGINT
(``docker stop``), it dies of that same signal after torch has stopped its processes, so the
container's status says "killed by signal" and not "failed". To see that signal, torch's
handler (the private ``_terminate_process_handler`` of torch.distributed.elastic; torch 2.x)
is wrapped, not replaced: torch still stops the workers itself.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import NoReturn


def read_train_argv(path: str) -> list[str]:
    """train.py's argv list from the JSON file ``path``, which is removed (it was temporary)."""
    try:
        with open(path, encoding="utf-8") as f:
            argv = json.load(f)
    finally:
        os.unlink(path)
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise SystemExit(f"torchrun_launcher: {path}: not a JSON list of strings")
    return argv


def exit_code(code: int) -> int:
    """A process's exit code as a shell reports it: a signal N (code -N) -> 128 + N; 0 -> 1
    (a failure reported without a code is still a failure)."""
    if code > 0:
        return code
    return 128 - code if code < 0 else 1


def die_of_signal(signum: int) -> NoReturn:
    """End this process by ``signum`` with its default action (the launcher's own status)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    raise SystemExit(128 + signum)  # not reached for a fatal signal


def record_signals(received: list[int]) -> None:
    """Wrap torch's SIGTERM/SIGINT handler so that the signals it gets land in ``received``."""
    import torch.distributed.elastic.multiprocessing.api as elastic_api

    torch_handler: Callable[[int, FrameType | None], None] = elastic_api._terminate_process_handler

    def recording_handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        torch_handler(signum, frame)

    elastic_api._terminate_process_handler = recording_handler


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: torchrun_launcher.py ARGV_FILE [torchrun options ...]", file=sys.stderr)
        return 2
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    run_argv = [*args[1:], "train.py", *read_train_argv(args[0])]
    print("[train] " + shlex.join(["torchrun", *run_argv]), flush=True)
    received: list[int] = []
    record_signals(received)
    try:
        torchrun(run_argv)
    except ChildFailedError as exc:
        if received:
            die_of_signal(received[0])
        return exit_code(exc.get_first_failure()[1].exitcode)
    except SignalException as exc:
        die_of_signal(exc.sigval)
    if received:  # the launcher got a signal but its workers ended cleanly meanwhile
        die_of_signal(received[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
