"""Training pairs for the affinity model: positives (listened) and sampled negatives.

Feature sets (both are functions of the profile ``u`` and the embedding ``t`` only):

- ``"bilinear"`` (``affinity-lr``): ``[u, t, u*t, cos(u, t)]``. The logit
  ``a.u + b.t + c.(u*t) + d*cos(u, t) + e`` is personal (the ``u*t`` and cosine terms rank
  tracks differently per user) and still bilinear, so scoring all tracks for a user is one
  matrix product.
- ``"concat"`` (``affinity-lr-concat``, the textbook model): ``[u, t]``. Its logit
  ``a.u + b.t + e`` ranks tracks identically for every user; kept for comparison only.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ..exceptions import TrainingError
from .profiles import history_weights

log = logging.getLogger(__name__)

__all__ = ["FEATURE_SETS", "pair_features", "feature_names", "sample_negatives", "build_pairs"]

FEATURE_SETS = ("bilinear", "concat")
SAMPLERS = ("uniform", "popularity")


def _norm_rows(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def pair_features(u: np.ndarray, t: np.ndarray, feature_set: str = "bilinear") -> np.ndarray:
    """Feature rows for aligned (profile, embedding) rows."""
    if feature_set == "concat":
        return np.hstack([u, t]).astype(np.float32)
    if feature_set == "bilinear":
        cos = np.sum(_norm_rows(u) * _norm_rows(t), axis=1, keepdims=True)
        return np.hstack([u, t, u * t, cos]).astype(np.float32)
    raise ValueError(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}")


def feature_names(embedding_names: list[str], feature_set: str = "bilinear") -> list[str]:
    u = [f"user:{n}" for n in embedding_names]
    t = [f"track:{n}" for n in embedding_names]
    if feature_set == "concat":
        return u + t
    return u + t + [f"user*track:{n}" for n in embedding_names] + ["cosine(user,track)"]


def sample_negatives(excluded: sp.csr_matrix, users: np.ndarray, candidates: np.ndarray,
                     rng: np.random.Generator, *, sampler: str = "uniform",
                     popularity: np.ndarray | None = None, max_rounds: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """One negative track per entry of ``users``, never a track in that user's ``excluded`` row.

    Vectorised rejection sampling over ``candidates`` (track indices): draw for all, redraw the
    rejected ones, for at most ``max_rounds`` rounds; entries still rejected (users who played
    nearly every candidate) are dropped and logged. Returns aligned (users, tracks).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    n_tracks = excluded.shape[1]
    if len(candidates) == 0:
        raise TrainingError("no candidate tracks to sample negatives from")
    p = None
    if sampler == "popularity":
        pop = np.asarray(popularity, dtype=np.float64)[candidates] + 1.0
        p = np.cumsum(pop ** 0.75)
        p /= p[-1]
    ex = sp.csr_matrix(excluded)
    ex.sort_indices()
    ex_keys = (np.repeat(np.arange(ex.shape[0], dtype=np.int64), np.diff(ex.indptr)) * n_tracks
               + ex.indices.astype(np.int64))  # sorted: csr rows in order, indices sorted per row
    out = np.empty(len(users), dtype=np.int64)
    todo = np.arange(len(users))
    for _ in range(max_rounds):
        if len(todo) == 0:
            break
        if p is None:
            draw = candidates[rng.integers(0, len(candidates), size=len(todo))]
        else:
            draw = candidates[np.searchsorted(p, rng.random(len(todo)), side="right").clip(0, len(candidates) - 1)]
        keys = users[todo].astype(np.int64) * n_tracks + draw
        pos = np.searchsorted(ex_keys, keys)
        hit = ((pos < len(ex_keys)) & (ex_keys[np.minimum(pos, len(ex_keys) - 1)] == keys)
               if len(ex_keys) else np.zeros(len(keys), dtype=bool))
        out[todo[~hit]] = draw[~hit]
        todo = todo[hit]
    keep = np.ones(len(users), dtype=bool)
    if len(todo):
        log.warning("dropped %d negative draws for users who played nearly every track", len(todo))
        keep[todo] = False
    return users[keep], out[keep]


def build_pairs(positives: sp.csr_matrix, played: sp.csr_matrix, embeddings: np.ndarray,
                has_content: np.ndarray, *, negatives_per_positive: int = 4, sampler: str = "uniform",
                feature_set: str = "bilinear", random_state=None,
                popularity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feature matrix X and labels y, plus the (user, track) index of every row.

    Positives are the (user, track) pairs with a positive play on a track with content. The
    profile used for a positive pair leaves that track out (as it will be when the model scores
    a track the user has not heard yet); a user with a single track gets the mean profile.
    Negatives: ``negatives_per_positive`` tracks per positive, drawn among catalogue tracks the
    user never played.
    """
    if negatives_per_positive < 1:
        raise ValueError(f"negatives_per_positive must be >= 1, got {negatives_per_positive}")
    rng = np.random.default_rng(random_state)
    w = history_weights(positives, has_content)
    w.eliminate_zeros()
    coo = w.tocoo()
    pu, pt, pw = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64)
    if len(pu) == 0:
        raise TrainingError("no positive plays on catalogue tracks: nothing to learn from "
                            "(check the min play length, the skipped flags and the track ids)")
    sums = np.asarray(w @ embeddings, dtype=np.float64)
    total = np.asarray(w.sum(axis=1), dtype=np.float64).ravel()
    prof_all = np.divide(sums, total[:, None], out=np.zeros_like(sums), where=total[:, None] > 0)
    rest = total[pu] - pw
    mean_profile = prof_all[total > 0].mean(axis=0)
    loo = np.where(rest[:, None] > 1e-12,
                   (sums[pu] - pw[:, None] * embeddings[pt]) / np.maximum(rest, 1e-12)[:, None],
                   mean_profile)
    neg_users = np.repeat(pu, negatives_per_positive)
    nu, nt = sample_negatives(played, neg_users, np.flatnonzero(has_content), rng,
                              sampler=sampler, popularity=popularity)
    u_rows = np.vstack([loo, prof_all[nu]]).astype(np.float32)
    t_rows = np.vstack([embeddings[pt], embeddings[nt]]).astype(np.float32)
    X = pair_features(u_rows, t_rows, feature_set)
    y = np.concatenate([np.ones(len(pu), np.int8), np.zeros(len(nu), np.int8)])
    return X, y, np.concatenate([pu, nu]), np.concatenate([pt, nt])
