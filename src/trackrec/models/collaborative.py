"""Collaborative models: EASE (closed form, Steck 2019) and iALS (the ``implicit`` library).

Both keep tracks that only appear in the sessions (no catalogue needed) and react to a
caller-given history without retraining: EASE multiplies the current history by its item-item
matrix; iALS recomputes the user's factors from it.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ..exceptions import TrainingError
from .base import Recommender

log = logging.getLogger(__name__)

__all__ = ["EASE", "IALS", "FLOOR"]

#: Score of tracks a model has no opinion on: below every real score, still finite, so that they
#: can fill a list when nothing else is left.
FLOOR = -1e6


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    b = sp.csr_matrix(m, dtype=np.float32, copy=True)
    b.data[:] = 1.0
    return b


def _spd_inverse(G: np.ndarray) -> np.ndarray:
    """Inverse of the (symmetric positive definite) Gram matrix, in float32: half the memory
    and about half the time of float64, relative error ~1e-7 at EASE's ridge strengths.
    (Cholesky-based routines measured no faster with this machine's OpenBLAS.)"""
    try:
        return np.linalg.inv(G.astype(np.float32, copy=False))
    except np.linalg.LinAlgError:
        raise TrainingError("EASE: Gram matrix is singular; raise l2") from None


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder: ``B = I - P diagMat(1 / diag(P))``, ``P = (X'X + lambda I)^-1``.

    Parameters
    ----------
    l2 : float
        Ridge strength lambda (larger = smoother; a few hundred suits thousands of users).
    min_listeners : int
        Only tracks with at least this many train listeners are modelled (the Gram matrix is
        dense: memory grows with the square of the number of tracks).
    max_items : int
        Memory and time cap: at most this many (most popular) tracks are modelled. The float32
        Gram matrix of 10,000 tracks takes 400 MB and inverts in about a minute on 2 cores; cost
        grows with the cube. Tracks left out get no EASE score (other strategies still cover them).
    """

    name = "ease"

    def __init__(self, l2: float = 200.0, min_listeners: int = 2, max_items: int = 10_000):
        self.l2 = l2
        self.min_listeners = min_listeners
        self.max_items = max_items

    def _fit(self, dataset) -> None:
        X = _binary(dataset.positives)
        pop = np.asarray(X.sum(axis=0)).ravel()
        items = np.flatnonzero(pop >= self.min_listeners)
        if len(items) > self.max_items:
            items = items[np.argsort(-pop[items], kind="stable")[: self.max_items]]
            items.sort()
            log.warning("EASE: modelling the %d most popular of %d tracks (max_items)", self.max_items, len(pop))
        if len(items) == 0:
            raise TrainingError(f"EASE: no track has at least {self.min_listeners} listeners")
        Xi = X[:, items]
        G = (Xi.T @ Xi).toarray().astype(np.float32)
        G[np.diag_indices_from(G)] += self.l2
        P = _spd_inverse(G)
        B = P / (-np.diag(P))
        B[np.diag_indices_from(B)] = 0.0
        self.items_ = items.astype(np.int64)
        self.B_ = B.astype(np.float32)

    def _score(self, uidx, history):
        hist = _binary(history)[:, self.items_]
        s = np.full((history.shape[0], self.dataset_.n_tracks), FLOOR, dtype=np.float32)
        s[:, self.items_] = np.asarray(hist @ self.B_)
        return s

    def get_params_state(self):
        return {"params": self.get_params()}, {"items": self.items_, "B": self.B_}

    def set_params_state(self, dataset, meta, arrays):
        super().set_params_state(dataset, meta, arrays)
        self.set_params(**meta["params"])
        self.items_, self.B_ = arrays["items"].astype(np.int64), arrays["B"].astype(np.float32, copy=False)


class IALS(Recommender):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) through ``implicit``.

    Parameters
    ----------
    factors : int or None
        Latent dimensions; ``None`` picks by data size (32 below 10,000 users, 64 below
        100,000, else 128: small data overfits more factors — on Last.fm 2K 32 factors beat 64
        by 5% NDCG@10).
    regularization, alpha, iterations :
        As in ``implicit.als.AlternatingLeastSquares`` (confidence ``1 + alpha * weight``).
    weighting : {"binary", "log"}
        Interaction weight: 1, or ``log1p(plays)``.
    random_state : int
    """

    name = "ials"

    def __init__(self, factors: int | None = None, regularization: float = 0.05, alpha: float = 5.0,
                 iterations: int = 20, weighting: str = "binary", random_state=0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.random_state = random_state

    def _weights(self, history: sp.csr_matrix) -> sp.csr_matrix:
        w = sp.csr_matrix(history, dtype=np.float32, copy=True)
        if self.weighting == "binary":
            w.data[:] = 1.0
        elif self.weighting == "log":
            w.data = np.log1p(w.data)
        else:
            raise ValueError(f"weighting must be 'binary' or 'log', got {self.weighting!r}")
        return w

    @staticmethod
    def auto_factors(n_users: int) -> int:
        return 32 if n_users < 10_000 else 64 if n_users < 100_000 else 128

    def _new_model(self):
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1, "blas"):  # implicit checks the BLAS thread pool on creation
            return AlternatingLeastSquares(factors=self.factors_, regularization=self.regularization, alpha=self.alpha,
                                       iterations=self.iterations, random_state=self.random_state,
                                       calculate_training_loss=False)

    def _fit(self, dataset) -> None:
        if dataset.positives.nnz == 0:
            raise TrainingError("iALS: no positive plays to learn from")
        self.factors_ = self.factors or self.auto_factors(dataset.n_users)
        model = self._new_model()
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1, "blas"):  # implicit parallelises itself; avoid oversubscription
            model.fit(self._weights(dataset.positives), show_progress=False)
        self._model = model
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)

    def _user_vectors(self, uidx, history) -> np.ndarray:
        known = uidx >= 0
        out = np.zeros((len(uidx), self.item_factors_.shape[1]), np.float32)
        out[known] = self.user_factors_[uidx[known]]
        if (~known).any():
            rows = np.flatnonzero(~known)
            w = self._weights(history[rows])
            out[rows] = np.asarray(self._model.recalculate_user(np.arange(len(rows)), w), dtype=np.float32)
        return out

    def _score(self, uidx, history):
        return self._user_vectors(uidx, history) @ self.item_factors_.T

    def get_params_state(self):
        return {"params": self.get_params()}, {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def set_params_state(self, dataset, meta, arrays):
        super().set_params_state(dataset, meta, arrays)
        self.set_params(**meta["params"])
        self.user_factors_ = arrays["user_factors"].astype(np.float32, copy=False)
        self.item_factors_ = arrays["item_factors"].astype(np.float32, copy=False)
        self.factors_ = self.item_factors_.shape[1]
        self._model = self._new_model()
        self._model.user_factors = self.user_factors_
        self._model.item_factors = self.item_factors_
