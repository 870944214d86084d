"""TrainJob / PyTorchJob manifests load into the Kubeflow projects' own API models, carry
what the entrypoint needs (Secret refs, /dev/fuse, SYS_ADMIN, /dev/shm, resources), and bad
options are refused with one clear InputError."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tcli.errors import InputError, ValidationFailed
from tcli.scaleout import imageref, kubeflow, manifests
from tcli.scaleout.manifests import JobOptions

OPTS = JobOptions(name="tc-demo-resnet18", image="127.0.0.1:5000/tc/classification:1",
                  dataset_id="42", nodes=2, gpus_per_node=4, template="Prov/Cat/Arch")


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container["env"]}


def test_trainjob_loads_into_the_trainer_model() -> None:
    doc = manifests.trainjob(OPTS)
    model = kubeflow.validate_trainjob(doc)
    assert type(model).__name__ == "TrainerV1alpha1TrainJob"
    assert model.spec.runtime_ref.name == "torch-distributed"
    trainer = model.spec.trainer
    assert (trainer.num_nodes, trainer.num_proc_per_node) == (2, 4)
    assert trainer.image == OPTS.image and trainer.command == ["/docker-entrypoint.sh"]
    limits = trainer.resources_per_node.limits
    assert {k: q.actual_instance for k, q in limits.items()} == {
        "cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "4"}
    env = {e.name: e for e in trainer.env}
    assert env["DATASET_ID"].value == "42"
    for key in ("S3_HOST", "S3_BUCKET_NAME", "OID_ACCESS_TOKEN"):
        ref = env[key].value_from.secret_key_ref
        assert (ref.name, ref.key, env[key].value) == ("tc-s3", key, None)  # never inline
    patch = model.spec.runtime_patches[0].training_runtime_spec.template.spec.replicated_jobs[0]
    pod = patch.template.spec.template.spec
    assert patch.name == "node" and pod.containers[0].name == "node"
    assert pod.containers[0].security_context.capabilities.add == ["SYS_ADMIN"]
    vols = {v.name: v for v in pod.volumes}
    assert vols["dshm"].empty_dir.medium == "Memory"
    assert vols["dshm"].empty_dir.size_limit.actual_instance == "8Gi"
    assert vols["fuse"].host_path.path == "/dev/fuse"
    mounts = {m.mount_path for m in pod.containers[0].volume_mounts}
    assert mounts == {"/dev/shm", "/dev/fuse", "/train"}


def test_pytorchjob_loads_into_the_training_operator_model() -> None:
    doc = manifests.pytorchjob(OPTS)
    model = kubeflow.validate_pytorchjob(doc)
    assert type(model).__name__ == "KubeflowOrgV1PyTorchJob"
    specs = model.spec.pytorch_replica_specs
    assert (specs["Master"].replicas, specs["Worker"].replicas) == (1, 1)
    assert model.spec.nproc_per_node == "4"
    container = specs["Worker"].template.spec.containers[0]
    assert container.name == "pytorch" and container.image == OPTS.image
    env = {e.name: e for e in container.env}
    assert env["TC_NPROC_PER_NODE"].value == "4" and env["PET_NNODES"].value == "2"
    assert env["OID_ACCESS_TOKEN"].value_from.secret_key_ref.name == "tc-s3"
    assert container.resources.limits["nvidia.com/gpu"] == "4"
    assert container.security_context.capabilities.add == ["SYS_ADMIN"]
    assert {v.name for v in specs["Master"].template.spec.volumes} == {"dshm", "fuse", "train"}


def test_one_node_pytorchjob_has_no_workers_and_cpu_jobs_no_gpu() -> None:
    opts = JobOptions(name="cpu-job", image="reg.example.com/a/b:2", dataset_id="7",
                      nodes=1, gpus_per_node=0, procs_per_node=3, output_pvc="models")
    doc = manifests.pytorchjob(opts)
    kubeflow.validate_pytorchjob(doc)
    assert list(doc["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    container = doc["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert _env(container)["TC_NPROC_PER_NODE"]["value"] == "3"
    tj = manifests.trainjob(opts)
    kubeflow.validate_trainjob(tj)
    assert tj["spec"]["trainer"]["numProcPerNode"] == 3
    pod = tj["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert {"name": "train", "persistentVolumeClaim": {"claimName": "models"}} in pod["volumes"]


@pytest.mark.parametrize(("kind", "mutate", "field"), [
    ("trainjob", lambda d: d["spec"]["trainer"].update(numNodes="2"), "numNodes"),
    ("trainjob", lambda d: d["spec"]["trainer"].update(gpus=1), "spec.trainer.gpus"),
    ("trainjob", lambda d: d["spec"].pop("runtimeRef"), "runtimeRef"),
    ("pytorchjob", lambda d: d["spec"]["pytorchReplicaSpecs"]["Master"].update(replicas="1"),
     "replicas"),
    ("pytorchjob", lambda d: d["spec"].update(nprocsPerNode="4"), "spec.nprocsPerNode"),
])
def test_the_api_models_catch_wrong_types_and_unknown_fields(kind: str, mutate: Any,
                                                             field: str) -> None:
    doc = copy.deepcopy(manifests.FORMATS[kind](OPTS))
    mutate(doc)
    with pytest.raises(ValidationFailed) as err:
        kubeflow.VALIDATORS[kind](doc)
    assert field in err.value.message


@pytest.mark.parametrize(("change", "message"), [
    ({"nodes": 0}, "--nodes 0: must be between 1 and 1000"),
    ({"nodes": -1}, "--nodes -1: must be between 1 and 1000"),
    ({"gpus_per_node": 17}, "--gpus-per-node 17: must be between 0 and 16"),
    ({"image": "not an image"}, "--image 'not an image' is not an image reference"),
    ({"image": "Reg.example.com/UPPER:1"}, "--image 'Reg.example.com/UPPER:1' is not an image"),
    ({"image": "reg.example.com/a:b:c"}, "is not an image reference"),
    ({"image": ""}, "--image '' is not an image reference"),
    ({"image": "reg.example.com/a;rm -rf /"}, "is not an image reference"),
    ({"dataset_id": "0"}, "--dataset-id '0' is not a positive integer"),
    ({"dataset_id": "4 2"}, "--dataset-id '4 2' is not a positive integer"),
    ({"name": "Bad_Name"}, "--name 'Bad_Name' is not a Kubernetes name"),
    ({"secret": "a/b"}, "--secret 'a/b' is not a Kubernetes name"),
    ({"memory": "32 GB"}, "--memory '32 GB' is not a Kubernetes quantity"),
    ({"procs_per_node": 2}, "--procs-per-node 2 differs from --gpus-per-node 4"),
])
def test_bad_options_are_refused(change: dict[str, Any], message: str) -> None:
    opts = JobOptions(**{**OPTS.__dict__, **change})
    for kind in manifests.FORMATS:
        with pytest.raises(InputError) as err:
            manifests.FORMATS[kind](opts)
        assert message in err.value.message


@pytest.mark.parametrize(("text", "registry", "repository", "tag"), [
    ("127.0.0.1:5000/tc/cls:1", "127.0.0.1:5000", "127.0.0.1:5000/tc/cls", "1"),
    ("localhost/cls", "localhost", "localhost/cls", None),
    ("team/cls:v2.0-rc1", None, "team/cls", "v2.0-rc1"),
    ("cls", None, "cls", None),
    ("reg.example.com/a/b/c@sha256:" + "a" * 64, "reg.example.com", "reg.example.com/a/b/c", None),
])
def test_image_references(text: str, registry: str | None, repository: str,
                          tag: str | None) -> None:
    ref = imageref.parse(text)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)
    assert ref.full == text


def test_default_name_is_a_kubernetes_name() -> None:
    assert manifests.default_name("My_Project", "ResNet18") == "tc-my-project-resnet18"
    long = manifests.default_name("x" * 80, "Arch")
    assert len(long) <= 40 and manifests._DNS_LABEL.match(long)
