"""Load tc's manifests into the Kubeflow projects' own API models (the ``kube`` extra):
``kubeflow-trainer-api`` for TrainJob (pydantic models) and ``kubeflow-training`` for
PyTorchJob v1 (OpenAPI models over the Kubernetes client's). A manifest passes when it loads
without error AND serialises back to exactly itself: a field the model does not know (which
both generators would drop silently) or a value of the wrong type is an error."""

from __future__ import annotations

from typing import Any

from tcli.errors import InputError, ValidationFailed

EXTRA_HINT = "install tc's kube extra: pip install 'tc-cli[kube]' (make install does)"


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}.{key}".lstrip(".")
            found = _first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return path.lstrip(".")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if (a == b and type(a) is type(b)) else path.lstrip(".")


def _compare(kind: str, doc: dict[str, Any], back: Any) -> None:
    where = _first_difference(doc, back)
    if where is not None:
        raise ValidationFailed(f"{kind} manifest: field {where} is not what the Kubeflow API "
                               "model reads back (unknown field or wrong type)",
                               "this is a bug in tc's manifest; please report it")


def validate_trainjob(doc: dict[str, Any]) -> Any:
    """The ``TrainerV1alpha1TrainJob`` model of ``doc``; ValidationFailed when it does not fit."""
    try:
        from kubeflow_trainer_api.models import TrainerV1alpha1TrainJob
        from pydantic import ValidationError
    except ImportError:
        raise InputError("kubeflow-trainer-api is not installed", EXTRA_HINT) from None
    try:
        model = TrainerV1alpha1TrainJob.from_dict(doc)
    except (ValidationError, ValueError, TypeError) as exc:
        first = str(exc).splitlines()
        raise ValidationFailed(f"TrainJob manifest does not load into the Kubeflow model: "
                               f"{' '.join(first[:3])}") from None
    if model is None:
        raise ValidationFailed("TrainJob manifest is empty")
    _compare("TrainJob", doc, model.to_dict())
    return model


def validate_pytorchjob(doc: dict[str, Any]) -> Any:
    """The ``KubeflowOrgV1PyTorchJob`` model of ``doc``; ValidationFailed when it does not fit."""
    try:
        from kubeflow.training import ApiClient
    except ImportError:
        raise InputError("kubeflow-training is not installed", EXTRA_HINT) from None
    client = ApiClient()
    try:
        model = client._ApiClient__deserialize(doc, "KubeflowOrgV1PyTorchJob")
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValidationFailed(f"PyTorchJob manifest does not load into the Kubeflow model: "
                               f"{exc}") from None
    _compare("PyTorchJob", doc, client.sanitize_for_serialization(model))
    return model


VALIDATORS = {"trainjob": validate_trainjob, "pytorchjob": validate_pytorchjob}
