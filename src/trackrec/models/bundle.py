"""A trained model: the fitted strategies that share one dataset, with their metrics."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.dataset import Dataset
from ..exceptions import ModelUnavailableError
from .base import Recommendation, Recommender

__all__ = ["ModelBundle"]


@dataclass
class ModelBundle:
    """Everything prediction needs: the dataset (id maps, histories, catalogue), the fitted
    models by name, the metrics measured at training time and provenance."""

    dataset: Dataset
    models: dict[str, Recommender]
    default_strategy: str = "affinity-lr"
    metrics: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def strategies(self) -> list[str]:
        return list(self.models)

    def model(self, strategy: str | None = None) -> Recommender:
        name = strategy or self.default_strategy
        if name not in self.models:
            raise ModelUnavailableError(f"strategy '{name}' is not in this model; available: "
                                        f"{', '.join(self.models)}")
        return self.models[name]

    def recommend(self, user_ids: str | Sequence[str], k: int = 10, *, strategy: str | None = None,
                  user_items: Mapping[str, Iterable[str]] | None = None, exclude_listened: bool = True,
                  allow: Iterable[str] | None = None, deny: Iterable[str] | None = None
                  ) -> Recommendation | list[Recommendation]:
        """``recommend`` of the named strategy (default: ``default_strategy``)."""
        return self.model(strategy).recommend(user_ids, k, user_items=user_items,
                                              exclude_listened=exclude_listened, allow=allow, deny=deny)

    def track_info(self, track_ids: Iterable[str]) -> pd.DataFrame:
        """Catalogue rows for the given track ids (in that order)."""
        cat = self.dataset.catalog
        idx = self.dataset.tracks.to_internal(list(track_ids))
        if cat is None:
            return pd.DataFrame({"track_id": self.dataset.tracks.external_ids[idx]})
        return cat.iloc[idx].reset_index(drop=True)

    def history(self, user_id: str) -> np.ndarray:
        """Track ids the user enjoyed in the training data."""
        i = self.dataset.users.get_indexer([user_id])[0]
        if i < 0:
            return np.array([], dtype=object)
        row = self.dataset.positives[i]
        return self.dataset.tracks.external_ids[row.indices]
