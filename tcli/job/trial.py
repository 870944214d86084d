"""A sweep trial as one more translation of the one :class:`~tcli.job.spec.JobSpec`.

``tc sweep`` builds the job once (as ``tc dev-run`` does) and derives each trial from it with
:func:`trial_spec`: its own name, ``/train`` folder, GPUs, labels, and its own
``train_config.json`` in the image's workspace -- where the platform puts the form's values
before ``docker run``; the image's entrypoint then merges presets.json and turns the file into
train.py's argv (config_to_args.py), exactly as on the platform. The local backend
(:func:`tcli.job.local.container`) writes the file into the created container before it starts;
the Katib trial template (:mod:`tcli.sweep.katib`) writes it from the trial's parameters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from tcli.contract import TRAIN_CONFIG
from tcli.job.spec import OUTPUT, JobSpec, Mount, NodeGpus

#: The file a trial changes (platform contract §3: the form's values).
LABEL_SWEEP = "org.tc.sweep"
LABEL_TRIAL = "org.tc.sweep-trial"


def config_text(config: Mapping[str, Any]) -> str:
    """train_config.json as tc writes it (2-space indent, key order kept, newline at the end)."""
    return json.dumps(dict(config), indent=2, ensure_ascii=False) + "\n"


def trial_spec(spec: JobSpec, *, name: str, config: Mapping[str, Any] | str,
               output_source: Path | None, gpus: NodeGpus | None = None,
               labels: Mapping[str, str] | None = None) -> JobSpec:
    """The job of one trial: ``spec`` with the trial's name, train_config.json (a mapping, or
    its text: a cluster template's), /train folder (a local run's host folder; None on a
    cluster), GPUs and extra labels."""
    text = config if isinstance(config, str) else config_text(config)
    mounts = tuple(
        Mount(m.role, m.target, str(output_source) if output_source else None, m.read_only)
        if m.role == OUTPUT else m for m in spec.mounts)
    files = tuple((n, t) for n, t in spec.workspace_files if n != TRAIN_CONFIG)
    return replace(
        spec, name=name, mounts=mounts,
        gpus=(gpus,) * spec.nodes if gpus is not None else spec.gpus,
        labels=(*spec.labels, *(labels or {}).items()),
        workspace_files=(*files, (TRAIN_CONFIG, text)))
