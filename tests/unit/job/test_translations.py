"""ONE JobSpec, its translations side by side: one local container, K local node containers,
a Kubeflow TrainJob and a PyTorchJob carry the same image, environment (minus what each
backend's launcher adds), mounts, /dev/shm, GPUs per node, processes, nodes and entrypoint.

:func:`facts` reads those from a translation, the way a reader of the ``docker create``
parameters or the YAML would; the last tests show it tells different jobs apart."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tcli.contract import IMAGE_ENTRYPOINT, PLATFORM_SHM_SIZE, TRAIN_MOUNT
from tcli.job import local
from tcli.job.build import job_spec
from tcli.job.gpus import GpuPlan, split_gpus
from tcli.job.spec import JobSpec, NodeGpus
from tcli.scaleout import kubeflow
from tcli.scaleout.manifests import ClusterConfig, pytorchjob_of, trainjob_of

SCAFFOLDS = Path(__file__).resolve().parents[3] / "scaffolds"
#: What each backend's launcher adds to the spec's environment (and nothing else may differ).
LAUNCHER_ENV = {
    "container": {"NVIDIA_VISIBLE_DEVICES", "TC_NPROC_PER_NODE"},
    "nodes": {"NVIDIA_VISIBLE_DEVICES", "PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK",
              "PET_MASTER_ADDR", "PET_MASTER_PORT", "TC_DIST_TIMEOUT", "GLOO_SOCKET_IFNAME",
              "NCCL_SOCKET_IFNAME"},
    "trainjob": {"S3_HOST", "S3_BUCKET_NAME", "OID_ACCESS_TOKEN", "S3_STS_ENDPOINT"},
    "pytorchjob": {"S3_HOST", "S3_BUCKET_NAME", "OID_ACCESS_TOKEN", "S3_STS_ENDPOINT",
                   "TC_NPROC_PER_NODE", "PET_NNODES"},
}
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def size_bytes(text: str) -> int:
    """Docker's ``8g`` and Kubernetes' ``8Gi`` in bytes (what both mean)."""
    match = re.fullmatch(r"(\d+)(k|m|g|Ki|Mi|Gi)?", text)
    assert match, text
    return int(match.group(1)) * _UNITS[match.group(2) or ""]


def one_spec(tmp_path: Path, nodes: int) -> JobSpec:
    """The job: ``nodes`` nodes, two named GPUs and two processes each, the platform's flags."""
    plan = GpuPlan(*(",".join(str(i) for i in range(2 * nodes)),) * 3)
    return job_spec(
        name="tc-demo-resnet18", image="127.0.0.1:5000/tc/classification:1", dataset_id=42,
        gpus=[p.node_gpus() for p in split_gpus(plan, nodes, 2)], template="P/C/A",
        nproc_per_node=2, dataset_source=tmp_path / "minio", output_source=tmp_path / "train",
        cpu="8", memory="32Gi", labels={local.LABEL_PROJECT: str(tmp_path)})


def facts(kind: str, doc: Any) -> dict[str, Any]:
    """The comparable facts of one translation (a list of RunSpecs, or a manifest)."""
    if kind in ("container", "nodes"):
        runs: list[local.RunSpec] = doc
        envs = [{k: v for k, v in r.environment.items() if k not in LAUNCHER_ENV[kind]}
                for r in runs]
        assert all(env == envs[0] for env in envs)
        return {
            "image": {r.image for r in runs},
            "env": envs[0],
            "output": {bind["bind"] for r in runs for bind in r.volumes.values()
                       if bind["bind"] == TRAIN_MOUNT},
            "dataset": {bind["bind"] for r in runs for bind in r.volumes.values()} - {TRAIN_MOUNT},
            "shm": {size_bytes(r.shm_size or "0") for r in runs},
            "gpus": [len((r.gpus or "").split(",")) if r.gpus else 0 for r in runs],
            "procs": {int(r.environment.get("PET_NPROC_PER_NODE")
                          or r.environment.get("TC_NPROC_PER_NODE") or 1) for r in runs},
            # no command: the image's ENTRYPOINT runs, as on the platform
            "entrypoint": IMAGE_ENTRYPOINT if all(r.command is None for r in runs) else None,
            "memory": {size_bytes(r.mem_limit or "0") for r in runs},
        }
    if kind == "trainjob":
        trainer = doc["spec"]["trainer"]
        pod = doc["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
            "replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
        container, nodes, procs = pod["containers"][0], trainer["numNodes"], trainer[
            "numProcPerNode"]
        image, env, resources, command = (trainer["image"], trainer["env"],
                                          trainer["resourcesPerNode"], trainer["command"])
    else:
        master = doc["spec"]["pytorchReplicaSpecs"]["Master"]
        workers = doc["spec"]["pytorchReplicaSpecs"].get("Worker", {"replicas": 0})
        pod, nodes = master["template"]["spec"], 1 + workers["replicas"]
        container = pod["containers"][0]
        image, env, resources, command = (container["image"], container["env"],
                                          container["resources"], container["command"])
        procs = int(doc["spec"]["nprocPerNode"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    # the dataset: s3fs inside the pod mounts /minio (it needs /dev/fuse and SYS_ADMIN)
    s3fs = ("fuse" in volumes and container["securityContext"]["capabilities"]["add"]
            == ["SYS_ADMIN"])
    return {
        "image": {image},
        "env": {e["name"]: e["value"] for e in env if e["name"] not in LAUNCHER_ENV[kind]},
        "output": {mounts["train"]},
        "dataset": {"/minio"} if s3fs else set(),
        "shm": {size_bytes(volumes["dshm"]["emptyDir"]["sizeLimit"])}
        if mounts.get("dshm") == "/dev/shm" else set(),
        "gpus": [int(resources["limits"].get("nvidia.com/gpu", 0))] * nodes,
        "procs": {procs},
        "entrypoint": tuple(command),
        "memory": {size_bytes(resources["limits"]["memory"])},
    }


def translations(spec: JobSpec) -> dict[str, Any]:
    cfg = ClusterConfig(secret="tc-s3", output_pvc="models")
    found: dict[str, Any] = {
        "nodes": local.node_containers(spec, port=29500),
        "trainjob": trainjob_of(spec, cfg),
        "pytorchjob": pytorchjob_of(spec, cfg),
    }
    if spec.nodes == 1:
        found["container"] = [local.container(spec)]
    return found


@pytest.mark.parametrize("nodes", [1, 2])
def test_one_spec_translates_to_the_same_job_everywhere(tmp_path: Path, nodes: int) -> None:
    spec = one_spec(tmp_path, nodes)
    found = translations(spec)
    kubeflow.validate_trainjob(found["trainjob"])  # both load into the Kubeflow API models
    kubeflow.validate_pytorchjob(found["pytorchjob"])
    expected = {
        "image": {spec.image}, "env": {"DATASET_ID": "42"}, "output": {"/train"},
        "dataset": {"/minio"}, "shm": {8 * 2**30}, "gpus": [2] * nodes, "procs": {2},
        "entrypoint": ("/docker-entrypoint.sh",), "memory": {32 * 2**30},
    }
    assert set(found) == ({"container", "nodes", "trainjob", "pytorchjob"} if nodes == 1
                          else {"nodes", "trainjob", "pytorchjob"})
    for kind, doc in found.items():
        assert facts(kind, doc) == expected, kind


def test_the_nodes_get_the_gpus_of_the_split_in_order(tmp_path: Path) -> None:
    runs = local.node_containers(one_spec(tmp_path, 2), port=29500)
    assert [(r.gpus, r.environment["NVIDIA_VISIBLE_DEVICES"]) for r in runs] == [
        ("0,1", "0,1"), ("2,3", "2,3")]
    assert [r.environment["PET_NODE_RANK"] for r in runs] == ["0", "1"]
    assert [r.volumes[str(tmp_path / "train") + ("-node1" if i else "")]["bind"]
            for i, r in enumerate(runs)] == ["/train", "/train"]
    # GPUs given by count (a cluster's spec run locally) are numbered in node order
    counted = replace(one_spec(tmp_path, 2), gpus=(NodeGpus(1),) * 2)
    assert [r.gpus for r in local.node_containers(counted, port=1)] == ["0", "1"]


@pytest.mark.parametrize(("change", "fact"), [
    ({"image": "reg.example.com/other:2"}, "image"),
    ({"shm_size": "4Gi"}, "shm"),
    ({"nproc_per_node": 1}, "procs"),
    ({"dataset_id": "7", "env": (("DATASET_ID", "7"),)}, "env"),
    ({"entrypoint": ("/bin/other",)}, "entrypoint"),
])
def test_facts_tell_different_jobs_apart(tmp_path: Path, change: dict[str, Any],
                                         fact: str) -> None:
    """The comparison above can fail: a changed spec changes that fact in a translation."""
    spec = one_spec(tmp_path, 1)
    other = replace(spec, **change)
    for kind in ("trainjob", "pytorchjob"):
        assert facts(kind, translations(spec)[kind])[fact] != \
            facts(kind, translations(other)[kind])[fact], kind
    if fact != "entrypoint":  # locally the image's own ENTRYPOINT runs
        assert facts("container", translations(spec)["container"])[fact] != \
            facts("container", translations(other)["container"])[fact]


def test_a_gpu_count_mismatch_is_seen(tmp_path: Path) -> None:
    spec = one_spec(tmp_path, 2)
    fewer = replace(spec, gpus=(NodeGpus(2, ("0", "1")), NodeGpus(1, ("2",))))
    assert facts("nodes", local.node_containers(fewer, port=1))["gpus"] == [2, 1]
    assert facts("trainjob", trainjob_of(spec, ClusterConfig()))["gpus"] == [2, 2]


def test_the_contract_entrypoint_is_the_scaffolds_dockerfile_entrypoint() -> None:
    """Locally the image's ENTRYPOINT runs, in a cluster the spec names it: the same one."""
    from tcli.parsers.dockerfile import entrypoint, entrypoint_words, parse_dockerfile

    dockerfiles = list(SCAFFOLDS.rglob("Dockerfile*"))
    assert dockerfiles
    for dockerfile in dockerfiles:
        entry = entrypoint(parse_dockerfile(dockerfile.read_text(encoding="utf-8")))
        assert entry is not None and entrypoint_words(entry) == list(IMAGE_ENTRYPOINT), dockerfile


@pytest.mark.parametrize(("docker", "quantity"), [
    ("8g", "8Gi"), ("512m", "512Mi"), ("64k", "64Ki"), ("100", "100"), ("4G", "4Gi")])
def test_sizes_between_docker_and_the_spec(docker: str, quantity: str) -> None:
    assert local.quantity(docker) == quantity
    assert size_bytes(local.docker_size(quantity)) == size_bytes(quantity)
    assert local.docker_size(PLATFORM_SHM_SIZE) == "8g"
    assert local.docker_size("1G") == "1000000000"  # decimal units become bytes
    for not_whole in ("1.5Gi", "512m"):  # Kubernetes' m is milli
        with pytest.raises(ValueError):
            local.docker_size(not_whole)


def test_a_cluster_cannot_take_all_of_a_hosts_gpus(tmp_path: Path) -> None:
    spec = replace(one_spec(tmp_path, 1), gpus=(NodeGpus(None),))
    assert local.container(spec).gpus == "all"
    with pytest.raises(ValueError, match="a cluster node needs a number of GPUs"):
        trainjob_of(spec, ClusterConfig())


# ---- a sweep trial: one more translation of the same spec (tcli/job/trial.py) --------------

def test_sweep_trial_is_the_dev_run_spec_with_its_own_config_and_output(tmp_path: Path) -> None:
    from tcli.job.gpus import split_for_trials
    from tcli.job.spec import NodeGpus
    from tcli.job.trial import TRAIN_CONFIG, trial_spec

    base = job_spec(name="tc-x", image="img:1", dataset_id=3, gpus=[NodeGpus(None)],
                    dataset_source=tmp_path / "minio", output_source=tmp_path / "train",
                    labels={"org.tc.project": "/p"})
    slots = split_for_trials(GpuPlan("0,1,2,3", "0,1,2,3", "0,1,2,3"), 2)
    trial = trial_spec(base, name="tc-x-sweep-s-2", config={"c": 0.5, "seed": 0},
                       output_source=tmp_path / "t2", gpus=slots[1].node_gpus(),
                       labels={"org.tc.sweep": "s"})
    run, dev = local.container(trial), local.container(base)
    assert run.files == (("/workspace/" + TRAIN_CONFIG, '{\n  "c": 0.5,\n  "seed": 0\n}\n'),)
    assert dev.files == ()  # a dev-run runs the image's own train_config.json
    assert run.gpus == "2,3" and run.environment["NVIDIA_VISIBLE_DEVICES"] == "2,3"
    assert run.volumes[str(tmp_path / "t2")] == {"bind": "/train", "mode": "rw"}
    assert str(tmp_path / "train") not in run.volumes
    # everything else is the dev-run's: the platform's flags, the dataset, the image
    for attr in ("image", "ulimits", "ipc_mode", "shm_size", "network_mode", "mem_limit",
                 "command"):
        assert getattr(run, attr) == getattr(dev, attr), attr
    assert run.labels == {**dev.labels, "org.tc.sweep": "s"}


def test_trials_split_the_gpus_evenly() -> None:
    from tcli.errors import InputError
    from tcli.job.gpus import split_for_trials

    cpu = GpuPlan("none", "", "void")
    assert split_for_trials(cpu, 3) == [cpu] * 3
    assert [p.label for p in split_for_trials(GpuPlan("0,1,2", "0,1,2", "0,1,2"), 3)] == \
        ["0", "1", "2"]
    with pytest.raises(InputError, match="name the GPUs"):
        split_for_trials(GpuPlan("all", None, "all"), 2)
    with pytest.raises(InputError, match="do not split evenly"):
        split_for_trials(GpuPlan("0,1,2", "0,1,2", "0,1,2"), 2)
