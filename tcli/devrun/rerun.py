"""``tc dev-run --rerun``: ``docker start`` the finished container again, as the platform does.

With ``--dataset-id N`` the container's ``/workspace/.env`` is rewritten to ``DATASET_ID=N``
first (how the platform points an existing container at another dataset).
"""

from __future__ import annotations

import time
from typing import Any

from tcli.contract import CONTAINER_ENV_FILE, DATASET_ID_KEY
from tcli.custom_json import CustomJson
from tcli.devrun.events import DevRunEvents
from tcli.devrun.follow import Running, follow
from tcli.devrun.interrupts import no_interrupts
from tcli.devrun.minio import describe, prepare_dataset
from tcli.devrun.naming import labels
from tcli.devrun.options import DevRunOptions
from tcli.devrun.summary import Summary
from tcli.errors import Aborted, DockerError, InputError
from tcli.parsers.envfile import dataset_id_of, with_dataset_id
from tcli.project import Project, TemplateRef


def rerun(
    client: Any,
    project: Project,
    template: TemplateRef,
    custom: CustomJson,
    opts: DevRunOptions,
    events: DevRunEvents,
) -> Summary:
    from tcli import engine

    found = engine.containers_with_labels(client, labels(project, template))
    if not found:
        raise InputError(
            f"no container of {template.key} to rerun",
            "run 'tc dev-run' (without --rerun) first; it keeps the finished container",
        )
    container = found[0]
    name = str(container.name)
    if engine.status(container) in ("running", "restarting"):
        raise DockerError(f"container {name} is still running", f"wait, or: docker rm -f {name}")
    env = (container.attrs.get("Config") or {}).get("Env") or []
    env_map = dict(item.split("=", 1) for item in env if "=" in item)
    dataset_id: int | None = opts.dataset_id
    events.line(f"tc dev-run --rerun: {template.key} (docker start {name})", style="info")
    if dataset_id is not None:
        layout = prepare_dataset(project, template, opts, dataset_id)
        if layout.volumes:
            raise InputError(
                f"--dataset {opts.dataset}: on another file system than the project",
                "an existing container cannot get new mounts; use a folder on the same file "
                "system, or run without --rerun",
            )
        events.line(describe(project, layout))
        current = engine.read_file(container, CONTAINER_ENV_FILE) or b""
        new_env = with_dataset_id(current.decode("utf-8", "replace"), dataset_id)
        engine.put_file(container, CONTAINER_ENV_FILE, new_env.encode("utf-8"))
        events.line(f"wrote DATASET_ID={dataset_id} into {name}:{CONTAINER_ENV_FILE} (as the platform does)")
    else:
        current = engine.read_file(container, CONTAINER_ENV_FILE) or b""
        value = dataset_id_of(current.decode("utf-8", "replace")) or env_map.get(DATASET_ID_KEY, "")
        dataset_id = int(value) if value.isdigit() else None
    visible = env_map.get("NVIDIA_VISIBLE_DEVICES", "void")
    summary = Summary.begin(
        project, template, custom,
        image=str((container.attrs.get("Config") or {}).get("Image", "")), container=name,
        dataset_id=dataset_id, gpus="none" if visible in ("void", "none", "") else visible,
        rerun=True,
    )
    try:
        since_wall = time.time()
        started = time.monotonic()
        engine.start(container)
        return follow(Running(container, project, custom, summary, started, since_wall,
                              since=since_wall), events)
    except KeyboardInterrupt:
        with no_interrupts():
            engine.stop(container, timeout=2)
            events.line(f"stopped container {name} (kept: it is the container being rerun)")
        raise Aborted("interrupted") from None
