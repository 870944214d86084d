"""Training helpers shared by tc's torchvision templates (classification, detection,
segmentation): seeding, a fast seeded DataLoader, AMP dtype, worker count, local
weights and BatchNorm settings for short runs.

It is a plain module in the template's ``docker/`` folder, so it reaches the platform's build
directory and the image next to train.py (``from tc_torch import make_loader``). Edit freely:
it belongs to your project like train.py does.
"""

import os
import random

import numpy as np
import torch
from torch import nn


def seed_worker(worker_id):
    """Seed numpy and random in each DataLoader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset, batch_size, shuffle, workers, cuda, seed, collate_fn=None):
    """A seeded DataLoader: pinned memory on CUDA, persistent workers that prefetch,
    the last partial batch dropped while training (BatchNorm needs more than one)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset,
        collate_fn=collate_fn,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=shuffle and len(dataset) > batch_size,
        num_workers=workers,
        pin_memory=cuda,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=seed_worker,
        generator=generator,
    )


def seed_everything(seed, cuda):
    """Seed everything; cudnn autotuning on CUDA, deterministic algorithms on CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)


def autocast_dtype(device, enabled):
    """bf16 where the GPU supports it, else fp16; None (no AMP) on CPU or when disabled."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def resolve_workers(requested, cuda):
    """-1 means auto: up to 8 DataLoader workers on CUDA, none on CPU (deterministic)."""
    if requested >= 0:
        return requested
    return min(8, os.cpu_count() or 1) if cuda else 0


def load_matching_weights(model, weights_path):
    """Load the tensors of a local state_dict file whose names and shapes match ``model``
    (a new head keeps its random start). Nothing is ever downloaded."""
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = model.state_dict()
    keep = dict((k, v) for k, v in state.items() if k in own and own[k].shape == v.shape)
    model.load_state_dict(keep, strict=False)
    print("weights: loaded {} of {} tensors from {} (the rest, e.g. the head, start random)"
          .format(len(keep), len(own), weights_path), flush=True)


def short_run_batchnorm(model):
    """Raise BatchNorm momentum to at least 0.1. MobileNetV3/EfficientNet use 0.01 (tuned for
    long ImageNet runs); with few steps the running statistics would lag far behind."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = max(module.momentum or 0.1, 0.1)
