"""Ranking metrics over full-catalogue top-k lists (see the evaluation protocol in docs/).

All functions take ``recs`` (n_users x K internal track ids, best first, ``-1`` padding) and the
test items as a CSR matrix (n_users x n_tracks, non-zero = relevant), and are vectorised.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["hits_matrix", "ranking_metrics", "METRIC_KEYS"]

METRIC_KEYS = ("ndcg@10", "recall@20", "map@10", "hitrate@10", "coverage@10")


def hits_matrix(recs: np.ndarray, test: sp.csr_matrix) -> np.ndarray:
    """Boolean matrix: ``recs[u, j]`` is in user u's test set."""
    test = sp.csr_matrix(test)
    test.sort_indices()
    n_items = test.shape[1]
    keys = np.repeat(np.arange(test.shape[0], dtype=np.int64), np.diff(test.indptr)) * n_items + test.indices
    q = np.arange(recs.shape[0], dtype=np.int64)[:, None] * n_items + recs
    pos = np.searchsorted(keys, q)
    pos = np.minimum(pos, max(len(keys) - 1, 0))
    return (recs >= 0) & (len(keys) > 0) & (keys[pos] == q) if len(keys) else np.zeros(recs.shape, bool)


def ranking_metrics(recs: np.ndarray, test: sp.csr_matrix, *, n_candidates: int | None = None) -> dict:
    """NDCG@10, Recall@20 (denominator ``min(|test|, 20)``), MAP@10, HitRate@10, coverage@10.

    Users with no test item are ignored. ``n_candidates`` is the catalogue size for coverage
    (default: number of columns of ``test``).

    >>> import scipy.sparse as sp, numpy as np
    >>> test = sp.csr_matrix(np.array([[0, 1, 0, 1]]))
    >>> round(ranking_metrics(np.array([[1, 0, 2, 3]]), test)["hitrate@10"], 3)
    1.0
    """
    test = sp.csr_matrix(test)
    n_rel = np.diff(test.indptr)
    users = n_rel > 0
    if recs.shape[1] < 20:
        recs = np.hstack([recs, -np.ones((recs.shape[0], 20 - recs.shape[1]), recs.dtype)])
    recs, n_rel, test = recs[users], n_rel[users], test[users]
    if len(n_rel) == 0:
        return {k: float("nan") for k in METRIC_KEYS} | {"users": 0}
    hits = hits_matrix(recs[:, :20], test)
    disc = 1.0 / np.log2(np.arange(2, 12))
    dcg = (hits[:, :10] * disc).sum(axis=1)
    ideal = np.cumsum(disc)[np.minimum(n_rel, 10) - 1]
    ndcg = dcg / ideal
    recall = hits[:, :20].sum(axis=1) / np.minimum(n_rel, 20)
    h10 = hits[:, :10]
    prec_at = np.cumsum(h10, axis=1) / np.arange(1, 11)
    ap = (prec_at * h10).sum(axis=1) / np.minimum(n_rel, 10)
    top10 = recs[:, :10]
    n_items = n_candidates or test.shape[1]
    coverage = len(np.unique(top10[top10 >= 0])) / max(n_items, 1)
    return {"ndcg@10": float(ndcg.mean()), "recall@20": float(recall.mean()), "map@10": float(ap.mean()),
            "hitrate@10": float(h10.any(axis=1).mean()), "coverage@10": float(coverage),
            "users": int(len(n_rel))}
