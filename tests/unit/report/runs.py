"""Make real runs for the report tests: a rendered project trained like ``tc dev-run`` lays it out.

No Docker: the platform's build directory (tcli.buildctx) runs ``setup.py`` then
``config_to_args.py`` with MINIO_ROOT=<project>/.tc/minio, TRAIN_ROOT=<project>/.tc/train and a
private DATASETS_ROOT (the container's /datasets, which dev-run does not keep either), on the
demo dataset dev-run writes (seed = dataset id = 1).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tcli.buildctx import assemble
from tcli.datasets.demo import write_demo_dataset
from tcli.project import Project
from tests.scaffold.conftest import render_template


def trained_project(base: Path, template: str, **config: object) -> tuple[Path, Path]:
    """(project folder, the DATASETS_ROOT the run used) after one training run."""
    import json

    project_dir = render_template(base / "project", template)
    project = Project.load(project_dir)
    ref = project.select(None)
    if config:
        path = ref.config_dir / "train_config.json"
        data = json.loads(path.read_text())
        data.update(config)
        path.write_text(json.dumps(data, indent=2) + "\n")
    workspace = base / "workspace"
    assemble(project, ref, workspace)
    minio, train = project.tc_dir / "minio", project.tc_dir / "train"
    datasets = base / "datasets"
    write_demo_dataset(minio, template, seed=1, dataset_id=1)
    env = dict(os.environ, WORKSPACE=str(workspace), MINIO_ROOT=str(minio),
               DATASETS_ROOT=str(datasets), TRAIN_ROOT=str(train), DATASET_ID="1",
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="2")
    for script in ("setup.py", "config_to_args.py"):
        proc = subprocess.run([sys.executable, script], cwd=workspace, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
        assert proc.returncode == 0, f"{template}: {script} failed:\n{proc.stdout[-4000:]}"
    return project_dir, datasets


def write_split(project_dir: Path, task: str, datasets: Path) -> Path:
    """Run the project's dataset stage as the container does (a subprocess, like the image)
    and write ``.tc/train/split.json`` (common/dataset.py write_report_split)."""
    env = dict(os.environ, MINIO_ROOT=str(project_dir / ".tc" / "minio"), DATASETS_ROOT=str(datasets),
               TRAIN_ROOT=str(project_dir / ".tc" / "train"), DATASET_ID="1",
               PYTHONDONTWRITEBYTECODE="1")
    prog = (f"import dataset; m = dataset.prepare({task!r}); "
            "assert dataset.write_report_split(m) is not None")
    proc = subprocess.run([sys.executable, "-c", prog], cwd=project_dir / "common", env=env,
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return project_dir / ".tc" / "train" / "split.json"
