# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""How the dataset stage splits samples: stratified (scikit-learn's guarantees, without
importing it), random, or by the images' CVAT subsets. Deterministic for a seed."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from dataset_base import DatasetError


def split_samples(keys: Sequence[str], train: float, test: float, seed: int
                  ) -> tuple[list[str], bool, str | None]:
    """Assign each sample to train/val(/test).

    ``test`` is the fraction for ``val`` (the platform's test split); when
    ``train + test < 1`` the remainder goes to ``test``. Stratified on ``keys`` (see
    :func:`stratified_split`) when every class has 2 samples or more, else random (returns
    the reason). Deterministic for a seed.
    """
    n = len(keys)
    if train < 0 or test < 0 or train + test > 1 + 1e-9:
        raise DatasetError(f"train-split={train} and test-split={test}: each must be in 0..1 "
                           "and their sum at most 1")
    rest = max(0.0, 1.0 - train - test)
    if rest < 1e-9:
        rest = 0.0
    if n == 0:
        return [], False, "empty"
    counts = Counter(keys)
    small = sorted(k for k, c in counts.items() if c < 2)
    if len(counts) < 2:
        reason = "only one class: nothing to stratify"
    elif small:
        reason = f"classes with fewer than 2 samples: {', '.join(small[:5])}"
    elif train <= 0 or test <= 0:
        reason = "a split fraction is 0"
    else:
        return stratified_split(keys, train, test, seed), True, None
    return _random_split(n, train, test, rest, seed), False, reason


def _random_split(n: int, train: float, test: float, rest: float, seed: int) -> list[str]:
    out = ["train"] * n
    perm = list(range(n))
    random.Random(seed).shuffle(perm)
    n_val = round(test * n)
    n_test = round(rest * n)
    if test > 0 and n_val == 0 and n > 1:
        n_val = 1
    n_test = min(n_test, max(0, n - n_val - (1 if train > 0 else 0)))
    for i in perm[:n_val]:
        out[i] = "val"
    for i in perm[n_val:n_val + n_test]:
        out[i] = "test"
    if train == 0:
        for i in perm[n_val + n_test:]:
            out[i] = "val"
    return out


def _raise_some(base: list[int], free: list[tuple[float, int]], total: int,
                rank: list[int]) -> list[int]:
    """``base`` plus one for as many ``free`` classes (priority, class) as bring the sum
    nearest to ``total``: highest priority first, ties in the seeded order ``rank``."""
    need = max(0, min(total - sum(base), len(free)))
    out = list(base)
    for _prio, c in sorted(free, key=lambda t: (-t[0], rank[t[1]]))[:need]:
        out[c] += 1
    return out


def stratified_split(keys: Sequence[str], train: float, test: float, seed: int
                     ) -> list[str]:
    """Stratified split with scikit-learn's guarantees, without importing it.

    Per class of ``n_c`` samples, each split gets ``floor`` or ``ceil`` of
    ``n_c * fraction`` (so within one sample of its exact share), every class at least one
    training sample, and the split totals as near ``n * fraction`` as that allows; which
    classes round up (largest remainder first, ties in seeded order) and which samples go
    where (a seeded shuffle per class) come from ``random.Random(seed)``. Needs ``train``
    and ``test`` > 0 and every class with 2 samples or more (:func:`split_samples` checks).
    """
    rest = max(0.0, 1.0 - train - test)
    if rest < 1e-9:
        rest = 0.0
    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    classes = sorted(groups)
    sizes = [len(groups[c]) for c in classes]
    n = len(keys)
    rank = list(range(len(classes)))
    rng.shuffle(rank)

    # train: floor or ceil of the share; a class whose share is below one gets one
    q_tr = [round(s * train, 9) for s in sizes]
    base = [max(1, int(q)) for q in q_tr]
    free = [(q - int(q), c) for c, q in enumerate(q_tr) if int(q) >= 1 and q > int(q)]
    n_tr = _raise_some(base, free, round(n * train), rank)
    if rest:
        # val among the held-out samples: round so that test stays within one sample too
        # (test deviation = (q_tr - n_tr) + (q_val - n_val); round val up when that is >= 1
        # rounded down, down when it is <= 0 rounded down, else either way)
        base, free = [], []
        for c, s in enumerate(sizes):
            q_val = round(s * test, 9)
            low = int(q_val)
            key = (q_val - low) + (q_tr[c] - n_tr[c])
            base.append(low + 1 if key >= 1 - 1e-9 else low)
            if 1e-9 < key < 1 - 1e-9 and q_val > low:
                free.append((key, c))
        n_val = _raise_some(base, free, round(n * test), rank)
    else:
        n_val = [s - t for s, t in zip(sizes, n_tr, strict=True)]
    out = ["test"] * n
    for c, name in enumerate(classes):
        idx = groups[name]
        rng.shuffle(idx)
        t, v = n_tr[c], n_val[c]
        for i in idx[:t]:
            out[i] = "train"
        for i in idx[t:t + v]:
            out[i] = "val"
    return out


#: ``split: subset``: CVAT subset names (case-insensitive, trimmed) -> the split written;
#: the platform's "test" split is ``val`` (its score is computed there)
SUBSETS = {"train": "train", "training": "train",
           "val": "val", "valid": "val", "validation": "val", "test": "val", "testing": "val"}
SPLIT_MODES = ("random", "subset")


def subset_split(subsets: Sequence[str | None], keys: Sequence[str], train: float, test: float,
                 seed: int) -> tuple[list[str], int, bool, str | None]:
    """``split: subset``: each sample goes where its subset says (:data:`SUBSETS`); samples
    without a known subset (none, or another name) are split by :func:`split_samples` with
    the configured fractions. Returns (assignment, how many went through that split,
    stratified, reason). No sample with a known subset is an error."""
    out: list[str | None] = [SUBSETS.get(s.strip().lower()) if s else None for s in subsets]
    rest = [i for i, sp in enumerate(out) if sp is None]
    if len(rest) == len(out):
        seen = sorted({s for s in subsets if s})
        found = f"found: {', '.join(repr(s) for s in seen[:5])}" if seen else "none has one"
        raise DatasetError(f"split: subset, but no image of annotations.xml has a train/"
                           f"validation/test subset ({found}); set split to random or "
                           "import the dataset keeping its subsets")
    stratified, reason = False, None
    if rest:
        assign, stratified, reason = split_samples([keys[i] for i in rest], train, test, seed)
        for i, sp in zip(rest, assign, strict=True):
            out[i] = sp
    return [sp or "train" for sp in out], len(rest), stratified, reason
