"""对照模型 (peers): the reference models a card is measured against on the same features and rows.

:func:`lightgbm_peer` is LightGBM in one fixed, lightly regularised configuration (no tuning on
the hold-out, deterministic), used by the test that holds the fitted 信义金 card within a margin of
its best peer and by ``bench/points_bench.py``, so both report the same peer.
"""

from __future__ import annotations

from typing import Any

#: the peer's parameters (300 shallow trees, 50 rows per leaf, row and column subsampling, L2 1.0)
LIGHTGBM_PEER: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}


def lightgbm_peer(random_state: int = 0, n_jobs: int = 2) -> Any:
    """An unfitted ``lightgbm.LGBMClassifier`` with :data:`LIGHTGBM_PEER` (deterministic, quiet)."""
    from lightgbm import LGBMClassifier

    return LGBMClassifier(random_state=random_state, deterministic=True, n_jobs=n_jobs, verbose=-1, **LIGHTGBM_PEER)
