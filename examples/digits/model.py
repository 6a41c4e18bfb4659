"""The example model: a scikit-learn classifier of handwritten digits.

Real model, real data: scikit-learn's bundled ``load_digits`` (1,797 8x8 images).
The model is trained on a fixed split at import (under a second); the held-out
split was written once to ``evals/digits_holdout.jsonl`` by ``make_dataset.py``
and is the sealed evaluation set: the model never sees those images in training.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

#: The split that makes the sealed set: change it and the lock says TAMPERED.
SPLIT_SEED = 20261122
HOLDOUT_SHARE = 0.25
#: What one prediction costs us to serve (a stated price: CPU time on our box).
PRICE_PER_CALL_USD = 0.00002
#: Regularisation of the shipped model. Set DIGITS_C=0.01 to build a weaker candidate
#: and watch the baseline comparison catch it (README).
C = float(os.environ.get("DIGITS_C", "1.0"))
VERSION = f"logreg-c{C:g}"


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_holdout, y_train, y_holdout), always the same."""
    digits = load_digits()
    x_train, x_hold, y_train, y_hold = train_test_split(
        digits.data,
        digits.target,
        test_size=HOLDOUT_SHARE,
        random_state=SPLIT_SEED,
        stratify=digits.target,
    )
    return x_train, x_hold, y_train, y_hold


@cache
def trained(c: float = C) -> Pipeline:
    """The classifier, trained on the training split only."""
    x_train, _, y_train, _ = split()
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    clf.fit(x_train, y_train)
    return clf


def predict(pixels: list[int]) -> int:
    """Classify one 8x8 image given as 64 grey levels (0-16)."""
    x = np.asarray(pixels, dtype=float)
    if x.shape != (64,):
        raise ValueError(f"expected 64 pixel values, got shape {x.shape}")
    return int(trained().predict(x.reshape(1, -1))[0])
