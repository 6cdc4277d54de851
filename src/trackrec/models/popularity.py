"""Most-listened tracks: the baseline every model must beat, and the cold-start answer."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Recommender


class PopularityRecommender(Recommender):
    """Ranks tracks by the number of distinct users with a positive play (train period)."""

    name = "popularity"

    def _fit(self, dataset) -> None:
        self.n_listeners_ = self.popularity_

    def _cold(self, uidx, history) -> np.ndarray:
        return np.asarray((history != 0).sum(axis=1)).ravel() == 0

    def _score(self, uidx: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self._popular_scores(len(uidx))
