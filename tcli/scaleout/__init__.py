"""Scale-out: Kubeflow manifests (TrainJob v2, PyTorchJob v1) for a project's template, and
building/pushing its image to a registry. Plain core modules: no Typer, no Rich."""
