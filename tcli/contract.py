"""Every platform fact tc relies on, written once (docs/platform-contract, §-numbers below).

Ground layer: constants only, no imports from tc. Anything that describes what the platform
expects (the upload ZIP's layout, the runtime files, what never ships, accepted model formats,
split keys, size limits, the run flags) lives here and nowhere else.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- the upload (§1)

#: The ZIP's one top folder.
PUBLISH_DIR = "train-container-publish"
#: The file name of the upload.
ZIP_NAME = f"{PUBLISH_DIR}.zip"

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
    "docker-entrypoint.sh": "common/docker-entrypoint.sh",
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

#: Files that exist only in development (the platform supplies its own or never uses them).
DEV_ONLY_FILES = frozenset(
    {"train_config.json", "export_config.json", "export.py", "export.jsonschema"}
)
#: Folders that never ship (development data, tc's work folder, VCS and tool caches).
DEV_ONLY_DIRS = frozenset({"minio", "train", ".tc", ".git", "__pycache__", ".pytest_cache",
                           ".mypy_cache", ".ruff_cache"})

#: The two folders of a template that are uploaded.
TEMPLATE_DIRS = ("config", "docker")
#: Files of config/ that tc knows.
CONFIG_FILES = frozenset(
    {"config.jsonschema", "custom.json", "presets.json", "train_config.json", "score_line.txt"}
)
#: Dockerfile COPY sources that must never reach an image (first path segment).
FORBIDDEN_COPY = ("minio", "train", "datasets")

#: Default per-file size limit of a package (bytes), as the ``--max-file-size 10MB`` default.
DEFAULT_MAX_FILE_SIZE = 10 * 1000 * 1000
DEFAULT_MAX_FILE_SIZE_TEXT = "10MB"

# --------------------------------------------------------------------------- models (§4)

#: Model formats the backend accepts for ``model_filepath``.
MODEL_EXTENSIONS = (".pt", ".pth", ".torchscript", ".onnx", ".plan", ".graphdef")
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

#: Keys config_to_args never passes to train.py (reserved for setup.py).
SPLIT_KEYS = ("train-split", "test-split")
#: Every key of train_config.json that setup.py reads and config_to_args leaves out.
SETUP_KEYS = (*SPLIT_KEYS, "split")
#: The environment variable naming the dataset (the platform rewrites it in ``.env``).
DATASET_ID_KEY = "DATASET_ID"
#: A platform dataset id as an option value (``tc export --dataset-id``): a positive integer of
#: at most 18 digits. Matched with ``re.fullmatch`` (a ``$`` would let a trailing newline in).
DATASET_ID_PATTERN = r"[1-9][0-9]{0,17}"
#: The ``.env`` inside a running train container.
CONTAINER_ENV_FILE = "/workspace/.env"

# --------------------------------------------------------------------------- running (§4)

#: Where the platform mounts the MinIO bucket and the training output.
MINIO_MOUNT = "/minio"
TRAIN_MOUNT = "/train"
#: The image's entrypoint (the Dockerfile's ``ENTRYPOINT``): .env, the s3fs mount of ``/minio``,
#: setup.py, then train.py (under torchrun when asked). The platform runs the image as it is.
IMAGE_ENTRYPOINT = ("/docker-entrypoint.sh",)
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

# --------------------------------------------------------------------------- tc's own files

#: Copier's answers file at the root of a project made by ``tc new``.
ANSWERS_FILE = ".copier-answers.yml"
