"""Each template trains on its demo data outside Docker, as the platform runs it: time and score.

Issue 7's bar: on CPU, at the default demo size, setup + train (+ ONNX export) in under 3 minutes
and a score clearly above chance. The tests check the score and the ONNX file
(tests/scaffold/test_template_training.py); the wall time is measured here, not in a timed test.
``BENCH_TEMPLATES`` (default all four) picks templates. No ratio: there is no original to compare
with (the kit's train.py is empty).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tcli.contract import TEMPLATE_NAMES

TARGET_S = 180.0
TEMPLATES = TEMPLATE_NAMES


def run_template(template: str, tmp: Path) -> tuple[float, str, float]:
    """Render, assemble the build directory, write demo data, run setup.py + config_to_args.py.
    Returns (seconds, score name, score)."""
    from tcli import scaffold
    from tcli.buildctx import assemble
    from tcli.datasets.demo import write_demo_dataset
    from tcli.project import Project

    project_dir = tmp / "project"
    scaffold.render(project_dir, {"template": template}, defaults=True)
    project = Project.load(project_dir)
    ref = project.select(None)
    workspace = tmp / "workspace"
    assemble(project, ref, workspace)
    write_demo_dataset(tmp / "minio", template, seed=0, dataset_id=1)
    env = dict(os.environ, WORKSPACE=str(workspace), MINIO_ROOT=str(tmp / "minio"),
               DATASETS_ROOT=str(tmp / "datasets"), TRAIN_ROOT=str(tmp / "train"),
               DATASET_ID="1", PYTHONDONTWRITEBYTECODE="1")
    custom = json.loads((ref.config_dir / "custom.json").read_text())
    log = ""
    t0 = time.perf_counter()
    for script in ("setup.py", "config_to_args.py"):
        proc = subprocess.run([sys.executable, script], cwd=workspace, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        log += proc.stdout
        if proc.returncode:
            raise RuntimeError(f"{template}: {script} exited {proc.returncode}:\n{log[-2000:]}")
    seconds = time.perf_counter() - t0
    found = re.findall(custom["score_regexp"], log)
    return seconds, custom["score_name"], float(found[-1]) if found else float("nan")


def main() -> int:
    names = [t.strip() for t in os.environ.get("BENCH_TEMPLATES", ",".join(TEMPLATES)).split(",")
             if t.strip()]
    ok = True
    print(f"setup + train + ONNX export on the default demo data, CPU, {os.cpu_count()} cores "
          f"(target < {TARGET_S:.0f} s each)")
    for template in names:
        with tempfile.TemporaryDirectory(prefix=f"tc-bench-{template}-") as tmp:
            seconds, name, score = run_template(template, Path(tmp))
        met = seconds < TARGET_S
        ok &= met
        print(f"  {template:<15} {seconds:7.1f} s  {name} {score:.3f}  "
              f"({'met' if met else 'NOT met'})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
