"""Optuna's SQLite storage: a sweep process killed mid-trial resumes with nothing lost or
counted twice (the trial it was running is marked interrupted and its point queued again)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tcli.errors import InputError
from tcli.sweep import store
from tcli.sweep.space import FLOAT, Param
from tests.waits import LineReader

SPACE = {"c": Param("c", FLOAT, 0.01, 100.0, log=True)}

# A sweep process: finishes two trials, then starts a third and stops there (a long training),
# printing a readiness marker; the test kills it at that marker.
CHILD = """
import sys, time
from pathlib import Path
from tcli.sweep import store
from tcli.sweep.space import FLOAT, Param
folder = Path(sys.argv[1])
meta = store.SweepMeta("s1", "P/C/A", "maximize", 5, {"c": Param("c", FLOAT, 0.01, 100.0, log=True)})
study = store.create(folder, meta, {"c": 1.0})
dists = store.distributions(meta.space)
for _ in range(2):
    t = study.ask(dists)
    study.tell(t, t.params["c"])
t = study.ask(dists)
print("RUNNING", t.number, t.params["c"], flush=True)
sys.stdin.read()  # a trial that never ends
"""


def test_killed_sweep_resumes_without_loss_or_double_count(tmp_path: Path) -> None:
    folder = tmp_path / "s1"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reader = LineReader(proc)
    line = reader.wait_for("RUNNING")
    proc.send_signal(signal.SIGKILL)  # a crash: no handler runs
    reader.finish()
    _, number, c = line.split()
    meta = store.load_meta(folder, "s1")
    study = store.load(folder, meta)
    trials = study.get_trials(deepcopy=False)
    assert [store.state_name(t) for t in trials] == ["complete", "complete", "interrupted",
                                                     "waiting"]
    assert trials[0].user_attrs.get(store.BASELINE) and trials[0].params == {"c": 1.0}
    assert trials[2].number == int(number)
    assert store.counted(study) == 2  # the interrupted trial does not count
    assert trials[3].system_attrs["fixed_params"] == {"c": float(c)}  # its point is not lost
    # the resumed process runs the queued point first, then new ones; none of the finished
    # trials runs again
    dists = store.distributions(meta.space)
    t = study.ask(dists)
    assert t.params == {"c": float(c)}
    study.tell(t, 0.5)
    for _ in range(meta.trials - store.counted(study)):
        t = study.ask(dists)
        study.tell(t, 0.1)
    finished = [t for t in study.get_trials(deepcopy=False) if store.state_name(t) == "complete"]
    assert len(finished) == meta.trials == store.counted(study)
    assert len({t.number for t in finished}) == len(finished)
    # loading again recovers nothing more
    assert store.recover(store.load(folder, meta)) == []


def test_an_existing_sweep_is_not_replaced(tmp_path: Path) -> None:
    meta = store.SweepMeta("s2", "P/C/A", "maximize", 3, SPACE)
    store.create(tmp_path / "s2", meta, None)
    with pytest.raises(InputError, match="a sweep named 's2' exists"):
        store.create(tmp_path / "s2", meta, None)
    with pytest.raises(InputError, match="no sweep named 'nope'"):
        store.load_meta(tmp_path / "nope", "nope")
    with pytest.raises(InputError, match="is not a sweep name"):
        store.check_name("../x")
