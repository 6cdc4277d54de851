"""Content models: track embeddings from the catalogue, user profiles from histories."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..exceptions import ModelUnavailableError
from ..features.embeddings import TrackEncoder
from ..features.profiles import user_profiles
from .base import Recommender


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32)


class ContentRecommender(Recommender):
    """Base of models that need a catalogue: fits a :class:`TrackEncoder`, keeps embeddings."""

    needs_content = True

    def _fit_content(self, dataset) -> None:
        if dataset.catalog is None or not dataset.has_content.any():
            raise ModelUnavailableError(f"model '{self.name}' needs a track catalogue with content "
                                        "features; none was given (pass --catalog)")
        cat = dataset.catalog[dataset.has_content]
        self.encoder_ = TrackEncoder().fit(cat)
        emb = np.zeros((dataset.n_tracks, self.encoder_.n_features_out_), np.float32)
        emb[dataset.has_content] = self.encoder_.transform(cat.reset_index(drop=True))
        self.embeddings_ = emb

    def profiles(self, history: sp.csr_matrix) -> np.ndarray:
        """User profile vectors for history rows, in embedding space."""
        return user_profiles(history, self.embeddings_, self.dataset_.has_content)[0]

    def get_params_state(self):
        return {"encoder": self.encoder_.get_state()}, {"embeddings": self.embeddings_}

    def set_params_state(self, dataset, meta, arrays):
        super().set_params_state(dataset, meta, arrays)
        self.encoder_ = TrackEncoder.from_state(meta["encoder"])
        self.embeddings_ = arrays["embeddings"].astype(np.float32)


class SimilarityRecommender(ContentRecommender):
    """Cosine similarity between the user's profile and each track embedding."""

    name = "similarity"

    def _fit(self, dataset) -> None:
        self._fit_content(dataset)
        self._unit = _normalise(self.embeddings_)

    def set_params_state(self, dataset, meta, arrays):
        super().set_params_state(dataset, meta, arrays)
        self._unit = _normalise(self.embeddings_)

    def _score(self, uidx, history):
        return _normalise(self.profiles(history)) @ self._unit.T

    def similar_tracks(self, track_id: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Tracks most similar to ``track_id`` by embedding cosine (the track itself excluded)."""
        self._check_fitted()
        i = self.dataset_.tracks.to_internal([track_id])[0]
        s = self._unit @ self._unit[i]
        s[~self.dataset_.has_content] = -np.inf
        s[i] = -np.inf
        k = min(k, int(np.isfinite(s).sum()))
        top = np.argpartition(-s, k - 1)[:k] if k else np.zeros(0, int)
        top = top[np.argsort(-s[top], kind="stable")]
        return self.dataset_.tracks.external_ids[top], s[top].astype(float)
