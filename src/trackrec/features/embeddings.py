"""Track embeddings: one vector per track from its catalogue features.

Categorical features (``genre``, ``mood``; comma-separated multi-labels such as ``"hip hop, pop"``
become multi-hot) are one-hot encoded; numeric features are median-imputed and standardised.
Missing values never crash: a missing label encodes as all zeros, a missing number as the median.
The fitted state is plain lists and floats, so a saved model needs no pickle.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ..data import schema as S
from ..exceptions import DataError, NotFittedError

__all__ = ["TrackEncoder", "split_labels"]


def split_labels(values: pd.Series) -> pd.Series:
    """``"Hip Hop, pop"`` -> ``["hip hop", "pop"]``; missing -> ``[]``."""
    return values.map(lambda v: [p.strip().lower() for p in str(v).split(",") if p.strip()]
                      if isinstance(v, str) else [])


class TrackEncoder(TransformerMixin, BaseEstimator):
    """Encode a catalogue into track embeddings.

    Parameters
    ----------
    categorical : sequence of str or None
        Categorical columns; ``None`` uses those of ``genre``, ``mood`` present.
    numeric : sequence of str or None
        Numeric columns; ``None`` uses every numeric column that is not an id, a descriptive
        column or ``popularity``.
    numeric_weight : float
        Multiplier of standardised numeric features relative to one-hot labels.
    """

    def __init__(self, categorical=None, numeric=None, numeric_weight: float = 1.0):
        self.categorical = categorical
        self.numeric = numeric
        self.numeric_weight = numeric_weight

    def fit(self, catalog: pd.DataFrame, y=None) -> TrackEncoder:
        cats = list(self.categorical) if self.categorical is not None else \
            [c for c in S.CATEGORICAL_FEATURES if c in catalog.columns]
        if self.numeric is not None:
            nums = list(self.numeric)
        else:
            nums = [c for c in catalog.columns
                    if c not in S.NON_FEATURE_COLUMNS and c not in cats
                    and pd.api.types.is_numeric_dtype(catalog[c]) and not pd.api.types.is_bool_dtype(catalog[c])]
        for c in cats + nums:
            if c not in catalog.columns:
                raise DataError(f"catalogue has no feature column '{c}'", column=c)
        if not cats and not nums:
            raise DataError("catalogue has no content features (expected genre/mood or numeric columns "
                            "such as tempo, energy)")
        self.categorical_ = cats
        self.categories_ = {}
        for c in cats:
            labels = split_labels(catalog[c]).explode().dropna()
            self.categories_[c] = sorted(labels.unique().tolist())
        self.numeric_ = nums
        x = catalog[nums].to_numpy(dtype=np.float64) if nums else np.zeros((len(catalog), 0))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: median 0 below
            med = np.nanmedian(x, axis=0) if len(x) else np.zeros(len(nums))
        med = np.where(np.isnan(med), 0.0, med)
        x = np.where(np.isnan(x), med, x)
        std = x.std(axis=0) if len(x) else np.ones(len(nums))
        self.medians_ = med.tolist()
        self.means_ = (x.mean(axis=0) if len(x) else np.zeros(len(nums))).tolist()
        self.scales_ = np.where(std > 0, std, 1.0).tolist()
        self.feature_names_ = [f"{c}={v}" for c in cats for v in self.categories_[c]] + nums
        return self

    def _check(self) -> None:
        if not hasattr(self, "feature_names_"):
            raise NotFittedError("TrackEncoder is not fitted yet; call fit(catalog) first")

    @property
    def n_features_out_(self) -> int:
        self._check()
        return len(self.feature_names_)

    def transform(self, catalog: pd.DataFrame) -> np.ndarray:
        """Float32 matrix, one row per catalogue row."""
        self._check()
        n = len(catalog)
        blocks = []
        for c in self.categorical_:
            cats = self.categories_[c]
            block = np.zeros((n, len(cats)), dtype=np.float32)
            if c in catalog.columns and cats:
                lab = split_labels(catalog[c]).explode()
                pos = pd.Index(cats).get_indexer(lab.dropna().to_numpy())
                rows = np.asarray(lab.dropna().index.map(catalog.index.get_loc))
                ok = pos >= 0
                block[rows[ok], pos[ok]] = 1.0
            blocks.append(block)
        if self.numeric_:
            cols = [catalog[c] if c in catalog.columns else pd.Series(np.nan, index=catalog.index)
                    for c in self.numeric_]
            x = np.column_stack([pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64) for s in cols])
            med = np.asarray(self.medians_)
            x = np.where(np.isnan(x), med, x)
            x = (x - np.asarray(self.means_)) / np.asarray(self.scales_) * self.numeric_weight
            blocks.append(x.astype(np.float32))
        return np.hstack(blocks) if blocks else np.zeros((n, 0), np.float32)

    def get_state(self) -> dict:
        """JSON-serialisable fitted state."""
        self._check()
        return {"categorical": self.categorical_, "categories": self.categories_, "numeric": self.numeric_,
                "medians": self.medians_, "means": self.means_, "scales": self.scales_,
                "numeric_weight": self.numeric_weight}

    @classmethod
    def from_state(cls, state: dict) -> TrackEncoder:
        enc = cls(categorical=state["categorical"], numeric=state["numeric"],
                  numeric_weight=state["numeric_weight"])
        enc.categorical_ = list(state["categorical"])
        enc.categories_ = {k: list(v) for k, v in state["categories"].items()}
        enc.numeric_ = list(state["numeric"])
        enc.medians_, enc.means_, enc.scales_ = state["medians"], state["means"], state["scales"]
        enc.feature_names_ = [f"{c}={v}" for c in enc.categorical_ for v in enc.categories_[c]] + enc.numeric_
        return enc
