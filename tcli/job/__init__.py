"""One model of a training job (:mod:`spec`), built once (:mod:`build`) and translated by
each backend: :mod:`local` (one container, K node containers) here, the Kubeflow manifests in
:mod:`tcli.scaleout.manifests`. :mod:`gpus` plans and splits the GPUs."""
