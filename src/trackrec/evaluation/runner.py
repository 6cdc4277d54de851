"""Evaluate fitted models on held-out (user, track) pairs with full-catalogue ranking."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data import schema as S
from ..data.dataset import Dataset
from .metrics import ranking_metrics

__all__ = ["test_matrix", "evaluate_ranking"]


def test_matrix(dataset: Dataset, test_pairs: pd.DataFrame) -> tuple[list[str], sp.csr_matrix]:
    """Test users (in order) and their relevant tracks as CSR over the dataset's track columns
    plus one extra column per test track the dataset does not know (they count as relevant,
    can never be recommended)."""
    users = pd.unique(test_pairs[S.USER])
    u = pd.Index(users).get_indexer(test_pairs[S.USER])
    t = dataset.tracks.get_indexer(test_pairs[S.TRACK].to_numpy(dtype=object))
    unknown = t < 0
    if unknown.any():
        codes, _ = pd.factorize(test_pairs[S.TRACK][unknown])
        t = t.copy()
        t[unknown] = dataset.n_tracks + codes
    n_cols = max(dataset.n_tracks, int(t.max()) + 1 if len(t) else 0)
    m = sp.csr_matrix((np.ones(len(u), np.float32), (u, t)), shape=(len(users), n_cols))
    m.sum_duplicates()
    return list(users), m


def evaluate_ranking(model, test_pairs: pd.DataFrame, *, k: int = 20, chunk_size: int = 2048) -> dict:
    """Ranking metrics of ``model`` (fitted on the training part) on ``test_pairs``.

    Every test user gets a full-catalogue ranking excluding their training tracks.
    """
    ds = model.dataset_
    users, test = test_matrix(ds, test_pairs)
    t0 = time.perf_counter()
    recs = np.full((len(users), k), -1, dtype=np.int64)
    for s in range(0, len(users), chunk_size):
        chunk = users[s:s + chunk_size]
        uidx, hist = ds.history_matrix(chunk)
        recs[s:s + len(chunk)] = model.rank_internal(uidx, hist, k)
    elapsed = time.perf_counter() - t0
    m = ranking_metrics(recs, test, n_candidates=int(model.candidate_mask().sum()))
    m["recommend_s"] = elapsed
    return m
