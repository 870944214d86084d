"""Every platform fact tc relies on, written once (docs/platform-contract, §-numbers below).

Ground layer: constants only, no imports from tc. tc's own registry of templates (what
``tc new`` renders) is here too, so that it is written once. Anything that describes what the platform
expects (the upload ZIP's layout, the runtime files, what never ships, accepted model formats,
split keys, size limits, the run flags) lives here and nowhere else;
``tests/test_contract_facts.py`` fails on one of these values written as a literal elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- the upload (§1)

#: The ZIP's one top folder.
PUBLISH_DIR = "train-container-publish"
#: The file name of the upload.
ZIP_NAME = f"{PUBLISH_DIR}.zip"

#: The image's entrypoint script (a runtime file, ``/docker-entrypoint.sh`` in the image).
ENTRYPOINT_SCRIPT = "docker-entrypoint.sh"
#: Runtime files at the top of the upload ZIP, and where they live in a project.
RUNTIME_FILES: dict[str, str] = {
    "config.py": "common/config.py",
    "config_to_args.py": "common/config_to_args.py",
    "dataset.py": "common/dataset.py",
    "dataset_base.py": "common/dataset_base.py",
    "dataset_coco.py": "common/dataset_coco.py",
    "dataset_files.py": "common/dataset_files.py",
    "dataset_labels.py": "common/dataset_labels.py",
    "dataset_link_worker.py": "common/dataset_link_worker.py",
    "dataset_split.py": "common/dataset_split.py",
    "dataset_trash_worker.py": "common/dataset_trash_worker.py",
    ENTRYPOINT_SCRIPT: f"common/{ENTRYPOINT_SCRIPT}",
    "mount-s3.sh": "common/mount-s3.sh",
    "sts_credentials.py": "common/sts_credentials.py",
    "torchrun_launcher.py": "common/torchrun_launcher.py",
    "failure.py": "common/failure.py",
    "cvat_dataset.py": "datasets/cvat_dataset.py",
    "cvat_masks.py": "datasets/cvat_masks.py",
    "cvat_model.py": "datasets/cvat_model.py",
    "cvat_parallel.py": "datasets/cvat_parallel.py",
    "cvat_xml.py": "datasets/cvat_xml.py",
    "cvat_xmlsafe.py": "datasets/cvat_xmlsafe.py",
}

#: The files of a template's config/ (§2): the options' JSON Schema, their values (the
#: platform writes its own), the named presets, what the backend reads after training, and
#: the score line train.py prints (for tc validate's check of ``score_regexp``).
CONFIG_SCHEMA = "config.jsonschema"
TRAIN_CONFIG = "train_config.json"
PRESETS = "presets.json"
CUSTOM_JSON = "custom.json"
SCORE_LINE = "score_line.txt"
#: The ONNX export's schema, values (config/) and script (docker/), development only.
EXPORT_SCHEMA = "export.jsonschema"
EXPORT_CONFIG = "export_config.json"
EXPORT_SCRIPT = "export.py"

#: Files that exist only in development (the platform supplies its own or never uses them).
DEV_ONLY_FILES = frozenset({TRAIN_CONFIG, EXPORT_CONFIG, EXPORT_SCRIPT, EXPORT_SCHEMA})
#: Folders that never ship (development data, tc's work folder, VCS and tool caches).
DEV_ONLY_DIRS = frozenset({"minio", "train", ".tc", ".git", "__pycache__", ".pytest_cache",
                           ".mypy_cache", ".ruff_cache"})

#: The two folders of a template that are uploaded.
TEMPLATE_DIRS = ("config", "docker")
#: Files of config/ that tc knows.
CONFIG_FILES = frozenset({CONFIG_SCHEMA, CUSTOM_JSON, PRESETS, TRAIN_CONFIG, SCORE_LINE})
#: Dockerfile COPY sources that must never reach an image (first path segment).
FORBIDDEN_COPY = ("minio", "train", "datasets")

#: Default per-file size limit of a package (bytes), as the ``--max-file-size 10MB`` default.
DEFAULT_MAX_FILE_SIZE = 10 * 1000 * 1000
DEFAULT_MAX_FILE_SIZE_TEXT = "10MB"

# --------------------------------------------------------------------------- models (§4)

#: Model formats the backend accepts for ``model_filepath``.
MODEL_EXTENSIONS = (".pt", ".pth", ".torchscript", ".onnx", ".plan", ".graphdef")
#: The backend (Triton's ``platform``) serving each accepted suffix, and the file name the
#: model has in a Triton model repository (``<name>/<version>/<file>``).
TRITON_PLATFORMS: dict[str, tuple[str, str]] = {
    ".onnx": ("onnxruntime_onnx", "model.onnx"),
    ".pt": ("pytorch_libtorch", "model.pt"),
    ".pth": ("pytorch_libtorch", "model.pt"),
    ".torchscript": ("pytorch_libtorch", "model.pt"),
    ".plan": ("tensorrt_plan", "model.plan"),
    ".graphdef": ("tensorflow_graphdef", "model.graphdef"),
}
#: ``tc model export --to``: each format and the suffix of the file it makes (``triton``: a
#: folder holding a model with one of the suffixes above). Every suffix is one the platform
#: accepts for ``model_filepath``.
EXPORT_FORMATS: dict[str, str] = {
    "onnx": ".onnx", "onnx-fp16": ".onnx", "onnx-int8": ".onnx", "torchscript": ".torchscript",
    "triton": ".onnx", "tensorrt": ".plan",
}
#: Where the extra formats go, beside ``model_filepath`` (inside the output folder).
EXPORT_FORMATS_DIR = "formats"
#: Weights and other model files tc package refuses (the accepted formats and more).
MODEL_FILE_SUFFIXES = frozenset(MODEL_EXTENSIONS) | {
    ".ckpt", ".safetensors", ".h5", ".hdf5", ".pb", ".tflite", ".pkl", ".joblib", ".npy", ".npz"
}
#: Dataset and archive files tc package refuses (the platform mounts the dataset).
DATA_FILE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".zip", ".tar", ".gz",
     ".tgz", ".7z", ".rar", ".parquet"}
)
#: The CVAT annotations file name inside a dataset.
ANNOTATIONS_XML = "annotations.xml"

# --------------------------------------------------------------------------- config (§2)

#: custom.json's fields (§2): the model file the backend picks up, the score's name, and the
#: regular expression whose group 1, on train.py's log, is the score.
MODEL_FILEPATH_KEY = "model_filepath"
SCORE_NAME_KEY = "score_name"
SCORE_REGEXP_KEY = "score_regexp"
CUSTOM_FIELDS = (MODEL_FILEPATH_KEY, SCORE_NAME_KEY, SCORE_REGEXP_KEY)

#: Keys config_to_args never passes to train.py (reserved for setup.py).
TRAIN_SPLIT_KEY = "train-split"
TEST_SPLIT_KEY = "test-split"
SPLIT_KEYS = (TRAIN_SPLIT_KEY, TEST_SPLIT_KEY)
#: Every key of train_config.json that setup.py reads and config_to_args leaves out.
SETUP_KEYS = (*SPLIT_KEYS, "split")
#: The environment variable naming the dataset (the platform rewrites it in ``.env``).
DATASET_ID_KEY = "DATASET_ID"
#: A platform dataset id as an option value (``tc export --dataset-id``): a positive integer of
#: at most 18 digits. Matched with ``re.fullmatch`` (a ``$`` would let a trailing newline in).
DATASET_ID_PATTERN = r"[1-9][0-9]{0,17}"
#: The image's working folder: the runtime files, train_config.json, presets.json (contract §3).
WORKSPACE = "/workspace"
#: The ``.env`` inside a running train container.
CONTAINER_ENV_FILE = f"{WORKSPACE}/.env"

# --------------------------------------------------------------------------- running (§4)

#: Where the platform mounts the MinIO bucket and the training output.
MINIO_MOUNT = "/minio"
TRAIN_MOUNT = "/train"
#: The image's entrypoint (the Dockerfile's ``ENTRYPOINT``): .env, the s3fs mount of ``/minio``,
#: setup.py, then train.py (under torchrun when asked). The platform runs the image as it is.
IMAGE_ENTRYPOINT = (f"/{ENTRYPOINT_SCRIPT}",)
#: How the platform runs a train container, besides GPUs and the environment: ``--shm-size``
#: as a Kubernetes quantity (Docker's ``8g`` is the same 8 GiB), ``--ipc``, ``--ulimit``s.
PLATFORM_SHM_SIZE = "8Gi"
PLATFORM_IPC_MODE = "host"
PLATFORM_ULIMITS: tuple[tuple[str, int, int], ...] = (
    ("memlock", -1, -1),
    ("stack", 67108864, 67108864),
)
#: Ulimits a Docker host may refuse (an unprivileged daemon, a low hard limit): tc then runs
#: without them and says so once, instead of failing.
DROPPABLE_ULIMITS = frozenset({"memlock"})
#: NVIDIA's PyTorch image the templates build on, and tc's local stand-in of it.
DEFAULT_BASE_IMAGE = "nvcr.io/nvidia/pytorch:25.01-py3"
LOCAL_BASE_IMAGE = "tc-local/pytorch:2.14.1"

# --------------------------------------------------------------------------- the templates


@dataclass(frozen=True)
class TemplateEntry:
    """One template of tc's scaffolds, as ``tc new --template NAME`` renders it.

    ``name`` is the choice in ``scaffolds/copier.yml``, the folder ``scaffolds/variants/NAME/``
    (its config/ and docker/ files) and the in-image ``TASK`` (setup.py); ``choice`` is the
    text copier.yml shows for it; ``provider``/``category``/``architecture`` are copier.yml's
    defaults for ``templates/P/C/A/``; ``dataset_task`` is what its dataset is annotated for
    (``tc demo-data --task``); ``flavor`` is the local base-image stand-in it builds on
    (``torch`` templates carry ``tc_torch.py`` and train under torchrun).
    tests/unit/test_template_registry.py checks this against copier.yml and the scaffolds.
    """

    name: str
    choice: str
    provider: str
    category: str
    architecture: str
    dataset_task: str
    flavor: str


TEMPLATES: tuple[TemplateEntry, ...] = (
    TemplateEntry("classification", "classification (torchvision)", "Torchvision",
                  "Classification", "ResNet18", "classification", "torch"),
    TemplateEntry("detection", "detection (torchvision)", "Torchvision",
                  "Detection", "FasterRCNN", "detection", "torch"),
    TemplateEntry("segmentation", "segmentation (torchvision)", "Torchvision",
                  "Segmentation", "LRASPP", "segmentation", "torch"),
    TemplateEntry("sklearn", "sklearn (scikit-learn, CPU)", "ScikitLearn",
                  "Classification", "LogisticRegression", "classification", "sklearn"),
)
#: The templates' names, in copier.yml's order (the first is the default).
TEMPLATE_NAMES: tuple[str, ...] = tuple(t.name for t in TEMPLATES)
#: The tasks a dataset is annotated for (CVAT tag / box / polygon), in the templates' order.
DATASET_TASKS: tuple[str, ...] = tuple(dict.fromkeys(t.dataset_task for t in TEMPLATES))
#: Template names that are not a dataset task themselves -> their dataset task.
TASK_ALIASES: dict[str, str] = {
    t.name: t.dataset_task for t in TEMPLATES if t.name not in DATASET_TASKS
}


# --------------------------------------------------------------------------- tc's own files

#: ``tc model export``'s record of its table and files, in :data:`EXPORT_FORMATS_DIR`.
EXPORT_FORMATS_RECORD = "formats.json"
#: Copier's answers file at the root of a project made by ``tc new``.
ANSWERS_FILE = ".copier-answers.yml"
