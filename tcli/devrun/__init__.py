"""``tc dev-run``: build a template's train image and run it like the platform does.

Split by concern: :mod:`options` (flags, GPU plan), :mod:`naming` (image/container names,
labels), :mod:`minio` (the mock MinIO), :mod:`logs` (score and training start in the log),
:mod:`summary` (the result), :mod:`events` (the progress protocol; drawing lives in
:mod:`tcli.ui.devrun_view`), :mod:`run` (a fresh run), :mod:`follow` (after the start),
:mod:`rerun` (``--rerun``), :mod:`nodes` (``--nodes K``). Re-exported here: what commands and tests use.
"""

from __future__ import annotations

from tcli.custom_json import read_custom as load_custom
from tcli.devrun.events import DevRunEvents
from tcli.devrun.launch import dev_run, dockerfile_base_image
from tcli.devrun.logs import LogWatcher, round_score
from tcli.devrun.minio import (
    DatasetLayout,
    demo_dataset,
    existing_dataset,
    link_dataset,
    template_task,
)
from tcli.devrun.naming import container_name, image_tag, slug
from tcli.devrun.options import DevRunOptions, GpuPlan, check_options, plan_gpus
from tcli.devrun.summary import Summary

__all__ = [
    "DatasetLayout", "DevRunEvents", "DevRunOptions", "GpuPlan", "LogWatcher", "Summary",
    "check_options", "container_name", "demo_dataset", "dev_run", "dockerfile_base_image",
    "existing_dataset", "image_tag", "link_dataset", "load_custom", "plan_gpus",
    "round_score", "slug", "template_task",
]
