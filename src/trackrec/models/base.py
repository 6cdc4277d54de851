"""The contract every model answers: ``fit(dataset)`` and one ``recommend(...)``.

A model implements ``_fit(dataset)`` and ``_score(uidx, history)``: a dense score block
(users x tracks, higher is better) for a chunk of users. The base class does the rest the same
way for every model: current histories (``user_items``), cold start, exclusion of listened
tracks, allow/deny lists, top-k by partial sort, chunking to bound memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from ..data.dataset import Dataset
from ..exceptions import NotFittedError

log = logging.getLogger(__name__)

__all__ = ["Recommendation", "Recommender", "top_k"]

DEFAULT_CHUNK = 2048


@dataclass(frozen=True)
class Recommendation:
    """Top-k for one user, best first."""

    user_id: str
    track_ids: np.ndarray
    scores: np.ndarray
    cold_start: bool

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"user_id": self.user_id, "rank": np.arange(1, len(self.track_ids) + 1),
                             "track_id": self.track_ids, "score": self.scores,
                             "cold_start": self.cold_start})


#: Every this-many-th column is probed for a lower bound of a row's k-th largest score.
_PROBE_STRIDE = 16


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest entries per row, best first; ties go to the lower
    index, ``-inf`` entries come last.

    ``np.argpartition`` slows down ~15x on rows where most entries are equal (popularity,
    tracks without factors, masked tracks). So the k-th largest of every 16th column (a lower
    bound of the row's k-th largest) picks a few hundred candidates per row, which are sorted
    exactly; rows with massive ties at that bound are selected through their k-th value and
    its first tied columns.
    """
    scores = np.asarray(scores)
    n_rows, n = scores.shape
    k = min(int(k), n)
    if k <= 0:
        return np.zeros((n_rows, 0), np.int64), np.zeros((n_rows, 0), scores.dtype)
    if n_rows == 0 or n < 4 * _PROBE_STRIDE * k:
        part = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return part.astype(np.int64), np.take_along_axis(scores, part, axis=1)
    tau = np.partition(scores[:, ::_PROBE_STRIDE], -k, axis=1)[:, -k]
    limit = max(8 * _PROBE_STRIDE * k, n // 16)
    idx = np.empty((n_rows, k), np.int64)
    vals = np.empty((n_rows, k), scores.dtype)
    mask = scores >= tau[:, None]
    counts = mask.sum(axis=1)
    ok = (counts >= k) & (counts <= limit)
    _top_of_candidates(scores, mask, counts, np.flatnonzero(ok), k, idx, vals)
    rest = np.flatnonzero(~ok)
    if len(rest):                                            # ties at the bound: try strictly above it
        s = scores[rest]
        mask = s > tau[rest, None]
        counts = mask.sum(axis=1)
        ok = (counts >= k) & (counts <= limit)
        sub_i, sub_v = np.empty((len(rest), k), np.int64), np.empty((len(rest), k), scores.dtype)
        _top_of_candidates(s, mask, counts, np.flatnonzero(ok), k, sub_i, sub_v)
        hard = np.flatnonzero(~ok)
        if len(hard):
            sub_i[hard], sub_v[hard] = _exact_rows(s[hard], k, tau[rest[hard]])
        idx[rest], vals[rest] = sub_i, sub_v
    return idx, vals


def _top_of_candidates(scores, mask, counts, rows, k, idx, vals) -> None:
    """Fill ``idx[rows]``, ``vals[rows]`` from the candidate ``mask`` (at least k per row)."""
    if len(rows) == 0:
        return
    r, c = np.nonzero(mask if len(rows) == len(scores) else mask[rows])
    v = scores[rows[r], c]
    order = np.lexsort((c, -v, r))                           # by row, value desc, index asc
    r, c, v = r[order], c[order], v[order]
    starts = np.concatenate([[0], np.cumsum(counts[rows])[:-1]])
    pos = np.arange(len(r)) - starts[r]
    keep = pos < k
    out_i, out_v = np.empty((len(rows), k), np.int64), np.empty((len(rows), k), scores.dtype)
    out_i[r[keep], pos[keep]] = c[keep]
    out_v[r[keep], pos[keep]] = v[keep]
    idx[rows], vals[rows] = out_i, out_v


def _sort_selected(scores: np.ndarray, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``part`` (selected columns per row) sorted by value desc, then index asc."""
    part = np.sort(part, axis=1)
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64), np.take_along_axis(vals, order, axis=1)


def _exact_rows(s: np.ndarray, k: int, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of rows with massive ties: everything above the k-th value plus its first ties."""
    above_tau = (s > tau[:, None]).sum(axis=1)
    kth = tau.astype(s.dtype, copy=True)
    redo = (above_tau >= k) | np.isnan(tau)
    if redo.any():                                           # rare: the bound was not the k-th value
        kth[redo] = np.partition(s[redo], -k, axis=1)[:, -k]
    above = s > kth[:, None]
    tied = s == kth[:, None]
    need = k - above.sum(axis=1)
    take = above | (tied & (np.cumsum(tied, axis=1) <= need[:, None]))
    ok = take.sum(axis=1) == k
    part = np.empty((len(s), k), np.int64)
    if ok.any():
        part[ok] = np.nonzero(take[ok])[1].reshape(-1, k)
    if not ok.all():                                         # NaN scores: no exact order exists
        part[~ok] = np.argpartition(s[~ok], -k, axis=1)[:, -k:]
    return _sort_selected(s, part)


class Recommender(BaseEstimator):
    """Base class. Subclasses set ``name`` and implement ``_fit`` and ``_score``."""

    name: str = "base"
    #: Content models only score tracks with catalogue features.
    needs_content: bool = False

    # --- fitting -------------------------------------------------------------------------
    def fit(self, dataset: Dataset) -> Recommender:
        """Fit on ``dataset`` and return ``self``."""
        self.dataset_ = dataset
        pop = dataset.popularity()
        self.popularity_ = pop
        self._fit(dataset)
        return self

    def _fit(self, dataset: Dataset) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "dataset_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(dataset) first")

    # --- scoring -------------------------------------------------------------------------
    def _score(self, uidx: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Dense (len(uidx), n_tracks) float32 scores; higher is better."""
        raise NotImplementedError

    def _cold(self, uidx: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Users the model cannot personalise for (no usable history)."""
        h = history
        if self.needs_content:
            h = history @ sp.diags(self.dataset_.has_content.astype(np.float32))
        return np.asarray((h != 0).sum(axis=1)).ravel() == 0

    def _output_scores(self, raw: np.ndarray) -> np.ndarray:
        """Map ranking scores of the returned items to the reported score (e.g. a probability)."""
        return raw

    def candidate_mask(self) -> np.ndarray:
        """Tracks this model can recommend."""
        self._check_fitted()
        return self.dataset_.has_content.copy() if self.needs_content else np.ones(self.dataset_.n_tracks, bool)

    def _popular_scores(self, n: int) -> np.ndarray:
        p = self.popularity_.astype(np.float32)
        p = p / p.max() if p.max() > 0 else p
        return np.broadcast_to(p, (n, len(p))).copy()

    def score_block(self, uidx: np.ndarray, history: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Scores for a block of users with cold-start fallback: (scores, cold flags)."""
        cold = self._cold(uidx, history)
        if cold.all():
            return self._popular_scores(len(uidx)), cold
        scores = self._score(uidx, history)
        if cold.any():
            scores[cold] = self._popular_scores(int(cold.sum()))
        return scores, cold

    # --- recommending --------------------------------------------------------------------
    def recommend(self, user_ids: str | Sequence[str], k: int = 10, *,
                  user_items: Mapping[str, Iterable[str]] | None = None,
                  exclude_listened: bool = True, allow: Iterable[str] | None = None,
                  deny: Iterable[str] | None = None, chunk_size: int = DEFAULT_CHUNK
                  ) -> Recommendation | list[Recommendation]:
        """Top-``k`` tracks for one user (a str) or several (a sequence), best first.

        Parameters
        ----------
        user_ids : str or sequence of str
            Unknown users, or users with no usable history, get popular tracks and
            ``cold_start=True``.
        k : int
            List length (fewer when fewer tracks are left after filtering).
        user_items : mapping user id -> track ids, optional
            Current histories, replacing the fit-time ones (react to new listens without
            retraining). Track ids the model does not know are ignored.
        exclude_listened : bool
            Leave out tracks in the user's history.
        allow, deny : iterables of track ids, optional
            Only recommend tracks in ``allow``; never those in ``deny``. Unknown ids raise
            :class:`~trackrec.exceptions.UnknownTrackError`.
        """
        self._check_fitted()
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        single = isinstance(user_ids, str)
        users = [user_ids] if single else [str(u) for u in user_ids]
        ds = self.dataset_
        mask = self.candidate_mask()
        if allow is not None:
            allowed = np.zeros_like(mask)
            allowed[ds.tracks.to_internal(list(allow))] = True
            mask &= allowed
        if deny is not None:
            mask[ds.tracks.to_internal(list(deny))] = False
        out: list[Recommendation] = []
        for start in range(0, len(users), chunk_size):
            chunk = users[start:start + chunk_size]
            uidx, hist = ds.history_matrix(chunk, user_items)
            idx, vals, cold = self._top_k_block(uidx, hist, k, mask, exclude_listened)
            ext = ds.tracks.external_ids
            for i, uid in enumerate(chunk):
                ok = np.isfinite(vals[i])
                # cold-start rows hold popularity shares, not model scores: report them as they are
                sc = vals[i][ok] if cold[i] else self._output_scores(vals[i][ok])
                out.append(Recommendation(uid, ext[idx[i][ok]], np.asarray(sc).astype(float), bool(cold[i])))
        return out[0] if single else out

    def _top_k_block(self, uidx, hist, k, mask, exclude_listened):
        scores, cold = self.score_block(uidx, hist)
        if not mask.all():
            scores[:, ~mask] = -np.inf
        if exclude_listened and hist.nnz:
            # the history: tracks the user enjoyed (positive plays). Tracks only skipped stay
            # recommendable: users often come back to them (and the protocol counts them as unseen).
            hist = sp.csr_matrix(hist)
            rows = np.repeat(np.arange(hist.shape[0]), np.diff(hist.indptr))
            scores[rows, hist.indices] = -np.inf
        idx, vals = top_k(scores, k)
        return idx, vals, cold

    def recommend_all(self, k: int = 10, *, users: Sequence[str] | None = None,
                      exclude_listened: bool = True, chunk_size: int = DEFAULT_CHUNK,
                      progress=None) -> pd.DataFrame:
        """Batch top-k for every (or the given) user in long format:
        ``user_id, rank, track_id, score, cold_start``. Scored in chunks of users (bounded memory);
        ``progress`` is called with the number of users done after each chunk."""
        self._check_fitted()
        ds = self.dataset_
        users = list(ds.users.external_ids) if users is None else [str(u) for u in users]
        mask = self.candidate_mask()
        frames = []
        for start in range(0, len(users), chunk_size):
            chunk = users[start:start + chunk_size]
            uidx, hist = ds.history_matrix(chunk)
            idx, vals, cold = self._top_k_block(uidx, hist, k, mask, exclude_listened)
            ok = np.isfinite(vals)
            n_per = ok.sum(axis=1)
            cold_rows = np.repeat(cold, n_per)
            frames.append(pd.DataFrame({
                "user_id": np.repeat(np.asarray(chunk, dtype=object), n_per),
                "rank": (np.cumsum(ok, axis=1))[ok].astype(np.int32),
                "track_id": ds.tracks.external_ids[idx[ok]],
                "score": np.where(cold_rows, vals[ok], self._output_scores(vals[ok])).astype(np.float64),
                "cold_start": np.repeat(cold, n_per),
            }))
            if progress is not None:
                progress(len(chunk))
        if not frames:
            return pd.DataFrame(columns=["user_id", "rank", "track_id", "score", "cold_start"])
        return pd.concat(frames, ignore_index=True)

    def rank_internal(self, uidx: np.ndarray, history: sp.csr_matrix, k: int,
                      exclude_listened: bool = True) -> np.ndarray:
        """Top-k internal track indices (``-1`` padded) for internal users: used by evaluation."""
        idx, vals, _ = self._top_k_block(uidx, history, k, self.candidate_mask(), exclude_listened)
        return np.where(np.isfinite(vals), idx, -1)

    # --- persistence ---------------------------------------------------------------------
    def get_params_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-serialisable state, arrays) of what ``fit`` learned beyond the dataset."""
        return {}, {}

    def set_params_state(self, dataset: Dataset, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.dataset_ = dataset
        self.popularity_ = dataset.popularity()
