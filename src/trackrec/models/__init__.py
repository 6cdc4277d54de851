"""Models behind one ``recommend(...)`` contract, by name.

=====================  ==========================================================
name                   model
=====================  ==========================================================
``popularity``         :class:`PopularityRecommender` (baseline, cold start)
``similarity``         :class:`SimilarityRecommender` (cosine profile <-> embedding)
``affinity-lr``        :class:`AffinityLR` (personal logistic regression)
``affinity-lr-concat`` :class:`AffinityLRConcat` (textbook model, for comparison)
``ease``               :class:`EASE` (closed-form item-item, Steck 2019)
``ials``               :class:`IALS` (implicit ALS through ``implicit``)
``affinity-ranker``    :class:`AffinityRanker` (generators + logistic-regression ranker)
=====================  ==========================================================
"""

from __future__ import annotations

from .affinity import AffinityLR, AffinityLRConcat
from .base import Recommendation, Recommender
from .collaborative import EASE, IALS
from .content import SimilarityRecommender
from .popularity import PopularityRecommender
from .ranker import AffinityRanker

__all__ = ["Recommendation", "Recommender", "PopularityRecommender", "SimilarityRecommender",
           "AffinityLR", "AffinityLRConcat", "EASE", "IALS", "AffinityRanker", "MODELS", "make_model", "register_model"]

MODELS: dict[str, type[Recommender]] = {
    "popularity": PopularityRecommender,
    "similarity": SimilarityRecommender,
    "affinity-lr": AffinityLR,
    "affinity-lr-concat": AffinityLRConcat,
    "ease": EASE,
    "ials": IALS,
    "affinity-ranker": AffinityRanker,
}


def register_model(cls: type[Recommender]) -> type[Recommender]:
    """Add a model class to the registry under ``cls.name``."""
    MODELS[cls.name] = cls
    return cls


def make_model(name: str, **params) -> Recommender:
    """A new, unfitted model by name."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; expected one of: {', '.join(MODELS)}") from None
    return cls(**params)
