"""tc validate on broken projects: a fresh render, one thing broken, the exact finding."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tcli import validate
from tcli.validate import Finding
from tests.validate_helpers import KEY, dump, load, tdir

T = f"templates/{KEY}"


@pytest.fixture()
def proj(new_project: Callable[..., Path]) -> Path:
    return new_project("classification", name="proj")


def run(project: Path, **kw: object) -> list[Finding]:
    return validate.validate_project(project, **kw).findings  # type: ignore[arg-type]


def only(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def test_fresh_project_has_no_errors(proj: Path) -> None:
    report = validate.validate_project(proj)
    assert report.errors == []
    assert report.templates == [KEY]


def test_missing_template_file(proj: Path) -> None:
    (tdir(proj) / "docker" / "train.py").unlink()
    assert only(run(proj), "structure.missing") == [Finding(
        "error", "structure.missing", f"{T}/docker/train.py",
        "missing file (required by the platform: validation/template.json)",
        "restore it ('tc update' restores tc's scaffold files)")]


def test_missing_runtime_file(proj: Path) -> None:
    (proj / "common" / "mount-s3.sh").unlink()
    assert only(run(proj), "structure.missing") == [Finding(
        "error", "structure.missing", "common/mount-s3.sh",
        "missing file (required by the platform: validation/common.json)",
        "restore it ('tc update' restores tc's scaffold files)")]


def test_missing_tc_required_file(proj: Path) -> None:
    (tdir(proj) / "docker" / "args.py").unlink()
    found = only(run(proj), "structure.missing")
    assert [(f.file, f.message) for f in found] == [
        (f"{T}/docker/args.py", "missing file (required by tc: validation/tc-template.json)")]


def test_folder_where_a_file_belongs(proj: Path) -> None:
    (tdir(proj) / "config" / "custom.json").unlink()
    (tdir(proj) / "config" / "custom.json").mkdir()
    found = only(run(proj), "structure.not-a-file")
    assert [(f.severity, f.file) for f in found] == [("error", f"{T}/config/custom.json")]


def test_extra_file_in_template(proj: Path) -> None:
    (tdir(proj) / "notes.txt").write_text("todo\n")
    assert only(run(proj), "structure.unexpected") == [Finding(
        "warning", "structure.unexpected", f"{T}/notes.txt",
        "not packaged: only config/ and docker/ of a template are uploaded",
        "move it into docker/ (code) or config/, or delete it")]


def test_export_py_in_docker_clashes(proj: Path) -> None:
    (tdir(proj) / "docker" / "export.py").write_text("x = 1\n")
    found = only(run(proj), "structure.dev-only")
    assert [(f.severity, f.file) for f in found] == [("error", f"{T}/docker/export.py")]


def test_invalid_json_reports_line_and_column(proj: Path) -> None:
    (tdir(proj) / "config" / "presets.json").write_text('{\n  "output-dir": "/train",\n}\n')
    found = only(run(proj), "json.invalid")
    assert found == [Finding(
        "error", "json.invalid", f"{T}/config/presets.json",
        "invalid JSON: Expecting property name enclosed in double quotes",
        "fix the JSON syntax at this line and column", line=3, column=1)]
    assert found[0].location == "3:1"


def test_schema_not_a_valid_json_schema(proj: Path) -> None:
    path = tdir(proj) / "config" / "config.jsonschema"
    schema = load(path)
    schema["type"] = "objekt"
    dump(path, schema)
    found = only(run(proj), "schema.invalid")
    assert [(f.file, f.pointer) for f in found] == [(f"{T}/config/config.jsonschema", "/type")]
    assert found[0].message.startswith("not a valid JSON Schema: 'objekt' is not valid")


def test_train_config_violates_schema(proj: Path) -> None:
    schema = load(tdir(proj) / "config" / "config.jsonschema")
    key = next(k for k, v in schema["properties"].items() if v.get("type") == "integer")
    path = tdir(proj) / "config" / "train_config.json"
    cfg = load(path)
    cfg[key] = "many"
    dump(path, cfg)
    assert only(run(proj), "config.schema-violation") == [Finding(
        "error", "config.schema-violation", f"{T}/config/train_config.json",
        "'many' is not of type 'integer'",
        "make train_config.json an instance of config.jsonschema (it stands in for the "
        "platform's form input)", pointer=f"/{key}")]


def test_invalid_schema_default(proj: Path) -> None:
    path = tdir(proj) / "config" / "config.jsonschema"
    schema = load(path)
    schema["properties"]["train-split"]["default"] = "lots"
    dump(path, schema)
    found = only(run(proj), "config.bad-default")
    assert [(f.pointer, f.message) for f in found] == [
        ("/properties/train-split/default", "default is invalid: 'lots' is not of type 'number'")]


def test_presets_missing_mandatory_key(proj: Path) -> None:
    path = tdir(proj) / "config" / "presets.json"
    presets = load(path)
    del presets["labels-dir"]
    dump(path, presets)
    found = only(run(proj), "presets.invalid")
    assert [(f.message, f.pointer) for f in found] == [("'labels-dir' is a required property", "")]


def test_custom_missing_score_name(proj: Path) -> None:
    path = tdir(proj) / "config" / "custom.json"
    custom = load(path)
    del custom["score_name"]
    dump(path, custom)
    found = only(run(proj), "custom.invalid")
    assert [f.message for f in found] == ["'score_name' is a required property"]


def set_score(proj: Path, regexp: str, line: str | None) -> None:
    path = tdir(proj) / "config" / "custom.json"
    custom = load(path)
    custom["score_regexp"] = regexp
    dump(path, custom)
    sample = tdir(proj) / "config" / "score_line.txt"
    if line is None:
        sample.unlink(missing_ok=True)
    else:
        sample.write_text(line)


def test_regexp_without_group(proj: Path) -> None:
    set_score(proj, r"Accuracy \d+\.\d+", "Accuracy 0.5\n")
    found = only(run(proj), "regexp.no-group")
    assert [(f.file, f.pointer) for f in found] == [(f"{T}/config/custom.json", "/score_regexp")]


def test_regexp_that_does_not_compile(proj: Path) -> None:
    set_score(proj, r"Accuracy (\d+", "Accuracy 0.5\n")
    found = only(run(proj), "regexp.invalid")
    assert [f.message for f in found] == [
        "score_regexp does not compile: missing ), unterminated subpattern at position 9"]


def test_regexp_not_matching_score_line(proj: Path) -> None:
    set_score(proj, r"F1 ([0-9.]+)", "Accuracy 0.5\n")
    assert only(run(proj), "regexp.no-match") == [Finding(
        "error", "regexp.no-match", f"{T}/config/custom.json",
        "score_regexp matches nothing in config/score_line.txt: the platform would show no score",
        "make score_regexp match the score line train.py prints", pointer="/score_regexp")]


def test_regexp_capture_not_a_number(proj: Path) -> None:
    set_score(proj, r"Accuracy (\S+)", "Accuracy n/a\n")
    found = only(run(proj), "regexp.not-a-number")
    assert [f.message for f in found] == [
        "score_regexp group 1 captured 'n/a' in config/score_line.txt, not a number"]


def test_missing_score_line_is_a_warning_and_log_replaces_it(proj: Path, tmp_path: Path) -> None:
    set_score(proj, r"Accuracy ([0-9.]+)", None)
    found = only(run(proj), "regexp.no-sample")
    assert [f.severity for f in found] == ["warning"]
    log = tmp_path / "train.log"
    log.write_text("epoch 1 loss 0.3\nAccuracy 0.75\n")
    assert not [f for f in run(proj, log=log) if f.code.startswith("regexp.")]
    log.write_text("epoch 1 loss 0.3\n")
    found = only(run(proj, log=log), "regexp.no-match")
    assert [f.message for f in found] == [
        f"score_regexp matches nothing in {log}: the platform would show no score"]


def test_model_path_outside_output_dir(proj: Path) -> None:
    path = tdir(proj) / "config" / "custom.json"
    custom = load(path)
    custom["model_filepath"] = "/workspace/model.onnx"
    dump(path, custom)
    found = only(run(proj), "model.outside-output-dir")
    assert [f.message for f in found] == [
        "model_filepath '/workspace/model.onnx' is not inside output-dir '/train' of "
        "presets.json: the backend would find no model"]


def test_model_path_escaping_with_dotdot(proj: Path) -> None:
    path = tdir(proj) / "config" / "custom.json"
    custom = load(path)
    custom["model_filepath"] = "/train/../etc/model.onnx"
    dump(path, custom)
    assert len(only(run(proj), "model.outside-output-dir")) == 1


def test_unsupported_model_extension(proj: Path) -> None:
    path = tdir(proj) / "config" / "custom.json"
    custom = load(path)
    custom["model_filepath"] = "/train/model.pkl"
    dump(path, custom)
    found = only(run(proj), "model.extension")
    assert [f.message for f in found] == [
        "model_filepath has extension '.pkl'; the platform accepts "
        ".pt .pth .torchscript .onnx .plan .graphdef"]


def test_key_missing_from_args_py(proj: Path) -> None:
    path = tdir(proj) / "config" / "presets.json"
    presets = load(path)
    presets["cache-dir"] = "/tmp/cache"
    dump(path, presets)
    assert only(run(proj), "args.undeclared") == [Finding(
        "error", "args.undeclared", f"{T}/docker/args.py",
        "--cache-dir (key of presets.json) is not declared: train.py would stop with "
        "'unrecognized arguments'", "add parser.add_argument('--cache-dir', ...)")]


def test_required_option_not_provided(proj: Path) -> None:
    args = tdir(proj) / "docker" / "args.py"
    text = args.read_text()
    args.write_text(text + "\n\ndef _more(parser):\n    parser.add_argument('--needed', "
                    "required=True)\n")
    line = len(text.splitlines()) + 4
    found = only(run(proj), "args.required-not-provided")
    assert [(f.line, f.message) for f in found] == [(line, (
        "--needed is required by args.py, but neither presets.json nor the required properties "
        "of config.jsonschema provide it"))]


def test_boolean_key_needs_store_true(proj: Path) -> None:
    presets_path = tdir(proj) / "config" / "presets.json"
    presets = load(presets_path)
    presets["verbose-log"] = True
    dump(presets_path, presets)
    args = tdir(proj) / "docker" / "args.py"
    args.write_text(args.read_text() + "\n\ndef _more(parser):\n"
                    "    parser.add_argument('--verbose-log')\n")
    found = only(run(proj), "args.flag-mismatch")
    assert [f.message for f in found] == [
        "--verbose-log is a boolean: config_to_args passes it as a bare flag, but args.py "
        "expects a value"]


def test_splits_that_overlap(proj: Path) -> None:
    path = tdir(proj) / "config" / "train_config.json"
    cfg = load(path)
    cfg["train-split"], cfg["test-split"] = 0.9, 0.3
    dump(path, cfg)
    found = only(run(proj), "split.sum")
    assert [(f.file, f.pointer, f.message) for f in found] == [(
        f"{T}/config/train_config.json", "/test-split",
        "train-split + test-split = 1.2 > 1: the splits overlap")]


def test_split_out_of_range(proj: Path) -> None:
    path = tdir(proj) / "config" / "train_config.json"
    cfg = load(path)
    cfg["test-split"] = 0
    dump(path, cfg)
    found = only(run(proj), "split.range")
    assert [f.message for f in found] == [
        "test-split is 0; it must be a fraction between 0 and 1 (exclusive)"]


def test_dataset_id_in_env(proj: Path) -> None:
    env = tdir(proj) / "docker" / ".env"
    text = env.read_text()
    env.write_text(text + "DATASET_ID=7\n")
    found = only(run(proj), "env.dataset-id")
    assert [(f.severity, f.line) for f in found] == [("error", len(text.splitlines()) + 1)]


@pytest.mark.parametrize(("line", "kind"), [
    ("AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP", "an AWS access key id"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", "a secret (by its name)"),
    ("DB_PASSWORD=hunter2", "a secret (by its name)"),
    ("S3_URL=https://user:pass@minio.local/bucket", "a URL with a password"),
])
def test_secret_in_env(proj: Path, line: str, kind: str) -> None:
    env = tdir(proj) / "docker" / ".env"
    env.write_text(env.read_text() + line + "\n")
    found = only(run(proj), "env.secret")
    key = line.split("=", 1)[0]
    assert [f.message for f in found] == [
        f"{key} looks like {kind}: .env is uploaded with the template"]
    secret = line.split("=", 1)[1]
    assert all(secret not in f.message for f in found)


def test_env_line_that_is_not_key_value(proj: Path) -> None:
    env = tdir(proj) / "docker" / ".env"
    text = env.read_text()
    env.write_text(text + "just some words\n")
    found = only(run(proj), "env.syntax")
    assert [f.line for f in found] == [len(text.splitlines()) + 1]


def test_dockerfile_copies_minio(proj: Path) -> None:
    dockerfile = tdir(proj) / "docker" / "Dockerfile"
    text = dockerfile.read_text()
    dockerfile.write_text(text + "COPY minio/ /minio/\n")
    found = only(run(proj), "dockerfile.copies-dev-data")
    assert [(f.line, f.message) for f in found] == [(len(text.splitlines()) + 1, (
        "COPY minio/: minio/ is development data (mock MinIO, train output or the dataset) "
        "and must not go into the image"))]


def test_dockerfile_without_entrypoint(proj: Path) -> None:
    dockerfile = tdir(proj) / "docker" / "Dockerfile"
    lines = [ln for ln in dockerfile.read_text().splitlines()
             if not ln.upper().startswith("ENTRYPOINT")]
    dockerfile.write_text("\n".join(lines) + "\n")
    found = only(run(proj), "dockerfile.entrypoint")
    assert [f.message for f in found] == [
        "no ENTRYPOINT: the container would not run docker-entrypoint.sh"]


def test_unpinned_requirement_is_a_warning(proj: Path) -> None:
    req = tdir(proj) / "docker" / "requirements.txt"
    text = req.read_text()
    req.write_text(text.rstrip("\n") + "\nrequests>=2\n")
    found = only(run(proj), "requirements.unpinned")
    assert [(f.severity, f.line) for f in found] == [("warning", len(text.splitlines()) + 1)]


def test_python_syntax_error(proj: Path) -> None:
    (tdir(proj) / "docker" / "train.py").write_text("def main(:\n    pass\n")
    found = only(run(proj), "python.syntax")
    assert [(f.file, f.location) for f in found] == [(f"{T}/docker/train.py", "1:10")]


def test_symlink_escaping_the_project(proj: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("SECRET = 1\n")
    (tdir(proj) / "docker" / "helper.py").symlink_to(outside)
    found = only(run(proj), "package.symlink-escape")
    assert [(f.file, f.message) for f in found] == [
        (f"{T}/docker/helper.py", f"symlink points outside the project ({outside})")]


def test_oversize_file(proj: Path) -> None:
    big = tdir(proj) / "docker" / "lookup.bin"
    with big.open("wb") as fh:
        fh.truncate(11 * 1000 * 1000)
    found = only(run(proj), "package.oversize")
    assert [(f.file, f.message) for f in found] == [
        (f"{T}/docker/lookup.bin", "11.0 MB is over the 10 MB limit")]
    assert only(run(proj, max_file_size=20 * 1000 * 1000), "package.oversize") == []


def test_model_file_in_template(proj: Path) -> None:
    (tdir(proj) / "docker" / "weights.pt").write_bytes(b"\0" * 10)
    found = only(run(proj), "package.data-file")
    assert [f.file for f in found] == [f"{T}/docker/weights.pt"]


def test_unreadable_file_not_utf8(proj: Path) -> None:
    (tdir(proj) / "config" / "custom.json").write_bytes(b'{"a": "\xff"}')
    found = only(run(proj), "file.unreadable")
    assert [(f.file, f.message) for f in found] == [
        (f"{T}/config/custom.json", "not UTF-8 text (byte 0xff at offset 7)")]


def _findings_without_dac_override(project: Path, code: str) -> list[tuple[str, str]]:
    """Validate in a child process that cannot bypass file permissions.

    As root (CI, containers) permissions do not stop reads; the child keeps uid 0 but drops
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (util-linux ``setpriv``), so mode 000 applies.
    """
    import json
    import shutil
    import subprocess
    import sys

    prog = ("import json, sys; from tcli import validate; r = validate.validate_project("
            "sys.argv[1]); print(json.dumps([(f.file, f.message) for f in r.findings "
            "if f.code == sys.argv[2]]))")
    cmd = [sys.executable, "-c", prog, str(project), code]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "util-linux setpriv is needed to drop root's file-permission bypass"
        drop = "-dac_override,-dac_read_search"
        cmd = [setpriv, "--bounding-set", drop, "--inh-caps", drop, *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [tuple(x) for x in json.loads(out)]


def test_unreadable_file_permissions(proj: Path) -> None:
    path = tdir(proj) / "config" / "presets.json"
    path.chmod(0)
    try:
        found = _findings_without_dac_override(proj, "file.unreadable")
    finally:
        path.chmod(0o644)
    assert found == [(f"{T}/config/presets.json", "cannot read: Permission denied")]


def test_broken_symlink_is_unreadable(proj: Path) -> None:
    path = tdir(proj) / "config" / "presets.json"
    path.unlink()
    path.symlink_to(proj / "nowhere.json")
    found = only(run(proj), "file.unreadable")
    assert [f.message for f in found] == ["broken symlink"]


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(("name", "reason"), [
    ("train-container-publish/../../evil.py", "'..' escapes the extraction folder (zip-slip)"),
    ("/etc/cron.d/evil", "absolute path"),
    ("train-container-publish\\..\\evil.py", "backslash in the name"),
    ("C:/evil.py", "absolute path"),
])
def test_zip_slip_member_names(tmp_path: Path, name: str, reason: str) -> None:
    zp = _zip(tmp_path / "bad.zip", {"train-container-publish/config.py": b"x = 1\n",
                                     name: b"boom\n"})
    report = validate.validate_zip(zp)
    assert only(report.findings, "zip.unsafe-name") == [Finding(
        "error", "zip.unsafe-name", name, f"unsafe member name: {reason}",
        "rebuild the ZIP with 'tc package'", target="zip")]
    assert not (tmp_path / "evil.py").exists()


def test_zip_symlink_member(tmp_path: Path) -> None:
    zp = _zip(tmp_path / "bad.zip", {"train-container-publish/config.py": b"x = 1\n"},
              symlink="train-container-publish/passwd")
    found = only(validate.validate_zip(zp).findings, "zip.unsafe-member")
    assert [(f.file, f.message) for f in found] == [
        ("train-container-publish/passwd", "member is a symlink; the platform refuses it")]


def test_not_a_zip_is_unusable_input(tmp_path: Path) -> None:
    bad = tmp_path / "x.zip"
    bad.write_text("not a zip")
    from tcli.errors import InputError

    with pytest.raises(InputError):
        validate.validate_zip(bad)


def test_not_a_project_is_unusable_input(tmp_path: Path) -> None:
    from tcli.errors import InputError

    with pytest.raises(InputError):
        validate.validate_project(tmp_path)
