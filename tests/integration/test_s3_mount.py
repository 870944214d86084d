"""The real mount path: moto (STS + S3) on 127.0.0.1, mount-s3.sh with Debian's s3fs, then
the dataset stage over the mounted bucket. Needs FUSE (/dev/fuse) and s3fs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cvat import cvat_xml, image
from tests.waits import SAFETY_NET, wait_for_port

REPO = Path(__file__).resolve().parents[2]
COMMON = REPO / "scaffolds/project/common"
DATASETS = REPO / "scaffolds/project/datasets"

pytestmark = pytest.mark.fuse


def _fuse_missing() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this environment)"
    if not shutil.which("s3fs"):
        return "s3fs is not installed (apt-get install s3fs fuse3)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not accessible to this user"
    return None


@pytest.fixture()
def moto_server():
    pytest.importorskip("moto.server", reason="moto[server] is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port("127.0.0.1", port)  # accepting: the tests start only then
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=SAFETY_NET)


def test_mount_with_sts_web_identity_then_dataset_stage(tmp_path: Path, moto_server: str) -> None:
    reason = _fuse_missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the FUSE test: {reason}")
        pytest.skip(reason)
    import boto3
    from PIL import Image

    s3 = boto3.client("s3", endpoint_url=moto_server, aws_access_key_id="admin",
                      aws_secret_access_key="admin", region_name="us-east-1")
    s3.create_bucket(Bucket="alice")
    images = []
    for i in range(6):
        img = tmp_path / f"{i}.png"
        Image.new("RGB", (16, 12)).save(img)
        s3.upload_file(str(img), "alice", f"datasets/5/{i}.png")
        label = "weed" if i % 2 else "crop"
        images.append(image(i, f"alice/5/{i}.png", f'<box label="{label}" xtl="1" ytl="1" xbr="5" ybr="6"/>',
                            w=16, h=12))
    s3.put_object(Bucket="alice", Key="datasets/5/annotations/annotations.xml",
                  Body=cvat_xml(images, ("weed", "crop"), attributes={}).encode())

    mnt = tmp_path / "minio"
    mnt.mkdir()
    cred = tmp_path / "creds"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "S3_HOST": moto_server, "S3_BUCKET_NAME": "alice", "OID_ACCESS_TOKEN": "oidc-token",
           "MINIO_ROOT": str(mnt), "S3FS_CREDENTIALS_FILE": str(cred), "PYTHON": sys.executable}
    try:
        r = subprocess.run(["bash", str(COMMON / "mount-s3.sh")], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "mounted at" in r.stdout
        assert (cred.stat().st_mode & 0o777) == 0o600
        assert "aws_session_token = " in cred.read_text()
        assert "oidc-token" not in cred.read_text()
        # idempotent under `docker start`
        r2 = subprocess.run(["bash", str(COMMON / "mount-s3.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
        assert r2.returncode == 0 and "already mounted" in r2.stdout
        # the dataset stage over the mount
        sys.path[:0] = [str(COMMON), str(DATASETS)]
        try:
            import dataset

            res = dataset.prepare("detection", {"train-split": 0.5, "test-split": 0.5},
                                  dataset_id="5", minio=mnt, datasets=tmp_path / "datasets",
                                  log=lambda m: None)
        finally:
            del sys.path[:2]
        assert sum(res["counts"].values()) == 6
        coco = json.loads((tmp_path / "datasets/labels/train/labels.json").read_text())
        assert len(coco["annotations"]) == res["counts"]["train"]
        link = next((tmp_path / "datasets/images/train").iterdir())
        assert os.path.realpath(link).startswith(os.path.realpath(mnt / "datasets/5"))
        assert link.read_bytes()[:4] == b"\x89PNG"  # read through s3fs
    finally:
        subprocess.run(["fusermount", "-u", str(mnt)], capture_output=True)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_sts_refusal_is_one_clear_error(tmp_path: Path) -> None:
    """No STS answering: a clear error and exit 3 (nothing mounted)."""
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "S3_HOST": "http://127.0.0.1:9", "S3_BUCKET_NAME": "b", "OID_ACCESS_TOKEN": "t",
           "MINIO_ROOT": str(tmp_path / "m"), "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(COMMON / "mount-s3.sh")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 3
    assert "refused AssumeRoleWithWebIdentity" in r.stderr
