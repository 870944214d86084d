"""Shared fixtures and the suite's tiers.

- Repo paths, a clean environment for every test (no colour, fixed width, a private TC_HOME),
  the in-image runtime's import paths.
- **One rendered project per template**: :func:`pristine_project` renders each template once
  per session (answers :data:`ANSWERS`, key :data:`KEY`), :func:`copy_project` and the
  ``new_project`` fixture give a test its own copy. Every test that needs a project uses them.
- **Tiers by marker** (see :data:`TIERS`), applied by folder in
  :func:`pytest_collection_modifyitems`, so ``-m`` selections work; a test under tests/unit/
  that uses a rendered project is in the ``scaffold`` tier, not ``unit``.
- **What was skipped**, said in the run's last line with the command that runs it
  (:func:`pytest_terminal_summary`). Under ``CI=true`` or ``TC_TEST_ALL=1`` (``make
  test-full``) a skip in the integration or browser tier is a failure instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCAFFOLDS = REPO / "scaffolds"
RUNTIME_DIRS = [
    SCAFFOLDS / "project" / "common",
    SCAFFOLDS / "project" / "datasets",
    SCAFFOLDS / "project" / "export",
]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No colour, fixed width, and a private TC_HOME for every test."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    if "TC_HOME" not in os.environ or not os.environ["TC_HOME"].startswith(str(REPO)):
        monkeypatch.setenv("TC_HOME", str(tmp_path_factory.getbasetemp() / "tc-home"))


@pytest.fixture()
def runtime_path(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Put the in-image runtime modules (config.py, cvat_dataset.py, export.py) on sys.path."""
    for d in RUNTIME_DIRS:
        monkeypatch.syspath_prepend(str(d))
    return RUNTIME_DIRS


# ---- one rendered project per template ------------------------------------------------------

#: The answers of every project the tests render: its template folder is templates/<KEY>.
ANSWERS = {"provider": "Prov", "category": "Cat", "architecture": "Arch"}
KEY = "Prov/Cat/Arch"

_SESSION_BASE: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _session_base(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where the session's pristine renders live (set before any other fixture needs them)."""
    _SESSION_BASE[:] = [tmp_path_factory.getbasetemp()]


def render_project(dest: Path, template: str, *, git: bool = False, **extra: str) -> Path:
    """Render ``template`` into ``dest`` now (with :data:`ANSWERS` and ``extra``), against the
    session's private TC_HOME (never the user's). Prefer :func:`copy_project`: this is for the
    few tests that need other answers."""
    from tcli import scaffold

    assert _SESSION_BASE, "render_project runs inside a pytest session"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TC_HOME", str(_SESSION_BASE[0] / "tc-home"))
        scaffold.render(dest, {"template": template, **ANSWERS, **extra}, defaults=True, git_init=git)
    return dest


def pristine_project(template: str, *, git: bool = False) -> Path:
    """The session's one render of ``template`` (``git``: ``git init`` + first commit, as
    ``tc new`` does). Rendered on first use, then cached; never modify it (copy it)."""
    assert _SESSION_BASE, "pristine_project runs inside a pytest session"
    dest = _SESSION_BASE[0] / "tc-pristine" / (f"{template}-git" if git else template)
    done = dest.parent / f".{dest.name}.done"
    if not done.exists():
        if dest.exists():  # an earlier render in this session was interrupted
            shutil.rmtree(dest)
        render_project(dest, template, git=git)
        done.touch()
    return dest


def copy_project(template: str, dest: Path, *, git: bool = False) -> Path:
    """A private copy of the session's render of ``template`` at ``dest``."""
    shutil.copytree(pristine_project(template, git=git), dest, symlinks=True)
    return dest


@pytest.fixture()
def new_project(tmp_path: Path) -> Callable[..., Path]:
    """``new_project("sklearn")`` -> a private copy of the render under ``tmp_path/<name>``
    (``name`` defaults to the template; ``git=True`` for a project ``tc new`` git-initialised)."""

    def _copy(template: str = "sklearn", *, git: bool = False, name: str | None = None) -> Path:
        return copy_project(template, tmp_path / (name or template), git=git)

    return _copy


# ---- tiers ------------------------------------------------------------------------------------

#: Marker -> what it means. Each test is in one of the first six (by its folder, see
#: :data:`FOLDER_TIER`), except a test under tests/unit/ marked ``slow`` (it trains a model):
#: that one is in ``slow`` only, so that ``-m unit`` is the fast tier.
TIERS = {
    "unit": "plain Python, no rendered project, no training, no Docker (seconds)",
    "cli": "a command's exact output through the CLI (NO_COLOR)",
    "scaffold": "renders Copier projects (tc new / tc update) or uses a rendered project",
    "integration": "needs a real Docker daemon and the stand-in base images (make test-full builds them)",
    "browser": "needs Debian's chromium + chromium-driver",
    "hostile": "hostile input: tc must fail cleanly, touch nothing, never hang",
    "slow": "trains a model or takes more than a few seconds (not in unit: -m unit stays fast)",
    "fuse": "needs FUSE and s3fs",
}
FOLDER_TIER = {"unit": "unit", "cli": "cli", "scaffold": "scaffold", "integration": "integration",
               "browser": "browser", "hostile": "hostile"}
#: Fixtures that hand a test a rendered project: a unit test using one is in the scaffold tier.
PROJECT_FIXTURES = frozenset({"new_project", "rendered", "project_copy", "sklearn_run",
                              "detection_run"})


def pytest_configure(config: pytest.Config) -> None:
    sys.dont_write_bytecode = True
    # A shell starts a background job (`make test &`, nohup, some CI runners) with SIGINT
    # ignored, and a child inherits an ignored signal: the tc processes the tests interrupt
    # would then never see their Ctrl-C. Handled (not ignored) here, it is default in children.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for name, meaning in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def _tier(item: pytest.Item) -> str:
    """The test's tier: its own tier marker when it has one, else its folder's (a unit test
    that uses a rendered project is a scaffold test)."""
    explicit = [t for t in FOLDER_TIER.values() if item.get_closest_marker(t) is not None]
    if explicit:
        return explicit[0]
    rel = Path(str(item.path)).resolve().relative_to(REPO / "tests").parts
    tier = FOLDER_TIER.get(rel[0], "unit") if len(rel) > 1 else "unit"
    if tier == "unit" and PROJECT_FIXTURES & set(getattr(item, "fixturenames", ())):
        tier = "scaffold"
    if tier == "unit" and item.get_closest_marker("slow") is not None:
        tier = "slow"
    return tier


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier (by folder unless it names its own), so that ``-m unit``
    etc. select it."""
    for item in items:
        tier = _tier(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(tier)


#: Tiers whose environment CI provides: under ``CI=true`` (or ``TC_TEST_ALL=1``, ``make
#: test-full``) a skip in them is a failure (the tier silently did not run); otherwise it is a
#: skip with its reason, named again in the run's last line.
REQUIRED_UNDER_CI = ("integration", "browser")

#: The command that runs what a plain ``make test`` skipped.
FULL_COMMAND = "make test-full"


def _ci() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("CI", "TC_TEST_ALL"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if not (_ci() and report.skipped):
        return
    tier = next((m for m in REQUIRED_UNDER_CI if item.get_closest_marker(m) is not None), None)
    if tier is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{tier} test skipped under CI=true or TC_TEST_ALL=1 (not allowed): {reason}"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr or "")
    return reason.removeprefix("Skipped: ")


_SKIPPED_LINE = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Compose ONE line: what was skipped (per tier, with the most common reason) or left out
    by ``-m``, and the command that runs it, so a run that skipped a tier never reads as
    complete. It is written after pytest's own final line (:func:`pytest_unconfigure`), as the
    run's last line."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if getattr(r, "when", "call") in ("setup", "call")]
    deselected = len(terminalreporter.stats.get("deselected", []))
    selection = " ".join(f"{flag} {value!r}" for flag, value in
                         (("-m", config.getoption("markexpr", "")), ("-k", config.getoption("keyword", "")))
                         if value)
    parts = []
    if skipped:
        by_tier: dict[str, list[str]] = {}
        for r in skipped:
            keywords = getattr(r, "keywords", {})
            tier = next((t for t in (*FOLDER_TIER.values(), "slow") if t in keywords), "unit")
            by_tier.setdefault(tier, []).append(_skip_reason(r))
        tiers = []
        for tier, reasons in sorted(by_tier.items(), key=lambda kv: -len(kv[1])):
            common = max(set(reasons), key=reasons.count)
            tiers.append(f"{len(reasons)} {tier} ({common}{'; ...' if len(set(reasons)) > 1 else ''})")
        parts.append(f"SKIPPED {len(skipped)} tests: {', '.join(tiers)}")
    if deselected and selection:
        parts.append(f"NOT RUN {deselected} tests deselected by {selection}")
    if parts:
        config.stash[_SKIPPED_LINE] = f"{'; '.join(parts)}; run everything with: {FULL_COMMAND}"


def pytest_unconfigure(config: pytest.Config) -> None:
    line = config.stash.get(_SKIPPED_LINE, None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if line and reporter is not None:
        reporter.write_line(line, yellow=True, bold=True)
