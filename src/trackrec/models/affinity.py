"""The logistic-regression affinity model: P(user enjoys track) from profile and embedding.

Trained on positives (listened) vs sampled negatives with the feature sets of
:mod:`trackrec.features.pairs`. After fitting, the scaler and the coefficients are folded into
per-block weights so that scoring every track for a block of users is one matrix product
(``affinity-lr``) — the model stays bilinear in profile and embedding.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..exceptions import TrainingError
from ..features.pairs import build_pairs, feature_names
from .content import ContentRecommender, _normalise

log = logging.getLogger(__name__)

__all__ = ["AffinityLR", "fit_logistic", "MIN_SAMPLES"]

MIN_SAMPLES = 10


def fit_logistic(X: np.ndarray, y: np.ndarray, *, test_size: float = 0.2, random_state=0,
                 C: float = 1.0, max_iter: int = 500):
    """Stratified train/test split, scaled logistic regression, accuracy and ROC AUC on test.

    Raises :class:`TrainingError` (and trains nothing) with fewer than ``MIN_SAMPLES`` samples,
    labels of a single class, or too few of a class to split.
    """
    X = np.asarray(X)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or len(X) != len(y):
        raise TrainingError(f"X must be 2-D with one row per label; got X shape {X.shape} and {len(y)} labels")
    if len(y) < MIN_SAMPLES:
        raise TrainingError(f"not enough data to train: {len(y)} sample(s), need at least {MIN_SAMPLES}")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        which = "positive (listened)" if classes[0] == 1 else "negative (not listened)"
        raise TrainingError(f"cannot train: all {len(y)} labels are {int(classes[0])} ({which}); "
                            "need both listened and not-listened pairs")
    n_test = int(np.ceil(test_size * len(y)))
    if counts.min() < 2 or n_test < len(classes) or len(y) - n_test < len(classes):
        raise TrainingError(f"cannot split {len(y)} samples ({dict(zip(classes.tolist(), counts.tolist()))} "
                            f"per class) into stratified train/test sets; need at least 2 of each class")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y, random_state=random_state)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    pipe.fit(X_tr, y_tr)
    proba = pipe.predict_proba(X_te)[:, 1]
    metrics = {
        "accuracy": float(accuracy_score(y_te, proba >= 0.5)),
        "roc_auc": float(roc_auc_score(y_te, proba)),
        "n_train_pairs": int(len(y_tr)),
        "n_test_pairs": int(len(y_te)),
        "positive_rate": float(y.mean()),
    }
    return pipe, metrics


class AffinityLR(ContentRecommender):
    """Personal logistic-regression affinity model (``affinity-lr``).

    Parameters
    ----------
    feature_set : {"bilinear", "concat"}
        ``"bilinear"``: ``[u, t, u*t, cos(u,t)]`` (personal). ``"concat"``: ``[u, t]``, the textbook
        model whose ranking is the same for every user (``affinity-lr-concat``).
    negatives_per_positive : int
        Sampled negatives per positive pair.
    sampler : {"uniform", "popularity"}
        How negatives are drawn among tracks the user never played.
    C : float
        Inverse regularisation strength of the logistic regression.
    test_size : float
        Share of pairs held out for accuracy / ROC AUC.
    random_state : int or None
        Seed of negative sampling and the split.
    """

    name = "affinity-lr"

    def __init__(self, feature_set: str = "bilinear", negatives_per_positive: int = 4,
                 sampler: str = "uniform", C: float = 1.0, test_size: float = 0.2, random_state=0,
                 max_iter: int = 500):
        self.feature_set = feature_set
        self.negatives_per_positive = negatives_per_positive
        self.sampler = sampler
        self.C = C
        self.test_size = test_size
        self.random_state = random_state
        self.max_iter = max_iter

    def _fit(self, dataset) -> None:
        self._fit_content(dataset)
        X, y, _, _ = build_pairs(dataset.positives, dataset.played, self.embeddings_, dataset.has_content,
                                 negatives_per_positive=self.negatives_per_positive, sampler=self.sampler,
                                 feature_set=self.feature_set, random_state=self.random_state,
                                 popularity=self.popularity_)
        pipe, self.metrics_ = fit_logistic(X, y, test_size=self.test_size, random_state=self.random_state,
                                           C=self.C, max_iter=self.max_iter)
        scaler, lr = pipe[0], pipe[-1]
        w = lr.coef_.ravel() / scaler.scale_
        self.coef_ = w.astype(np.float64)
        self.intercept_ = float(lr.intercept_[0] - np.dot(w, scaler.mean_))
        self._prepare()

    def _prepare(self) -> None:
        d = self.embeddings_.shape[1]
        w = self.coef_
        self._wu, self._wt = w[:d], w[d:2 * d]
        if self.feature_set == "bilinear":
            self._wx, self._wc = w[2 * d:3 * d], float(w[3 * d])
        else:
            self._wx, self._wc = np.zeros(d), 0.0
        emb = self.embeddings_
        ones = np.ones((len(emb), 1), np.float32)  # carries the per-user constant through the product
        self._M = np.ascontiguousarray(np.hstack([emb, _normalise(emb), ones]).T, dtype=np.float32)

    def feature_names(self) -> list[str]:
        return feature_names(self.encoder_.feature_names_, self.feature_set)

    def _user_weights(self, profiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-user rows A such that ``A @ self._M`` is the logit of every track."""
        a = self._wt[None, :] + profiles * self._wx[None, :]
        base = self.intercept_ + profiles @ self._wu
        return np.hstack([a, self._wc * _normalise(profiles), base[:, None]]).astype(np.float32)

    def _score(self, uidx, history):
        return self._user_weights(self.profiles(history)) @ self._M

    def _output_scores(self, raw):
        return 1.0 / (1.0 + np.exp(-raw.astype(np.float64)))

    def predict_proba_for_history(self, history) -> np.ndarray:
        """P(enjoy) for every track (dense, n_users x n_tracks) given history rows."""
        self._check_fitted()
        return self._output_scores(self._score(None, history))

    def get_params_state(self):
        meta, arrays = super().get_params_state()
        meta.update({"feature_set": self.feature_set, "intercept": self.intercept_, "metrics": self.metrics_,
                     "params": self.get_params()})
        arrays["coef"] = self.coef_
        return meta, arrays

    def set_params_state(self, dataset, meta, arrays):
        super().set_params_state(dataset, meta, arrays)
        self.set_params(**meta["params"])
        self.intercept_ = float(meta["intercept"])
        self.metrics_ = meta["metrics"]
        self.coef_ = arrays["coef"].astype(np.float64)
        self._prepare()


class AffinityLRConcat(AffinityLR):
    """The textbook model ``[u, t]`` (``affinity-lr-concat``): same ranking for every user."""

    name = "affinity-lr-concat"

    def __init__(self, feature_set: str = "concat", negatives_per_positive: int = 4,
                 sampler: str = "uniform", C: float = 1.0, test_size: float = 0.2, random_state=0,
                 max_iter: int = 500):
        super().__init__(feature_set=feature_set, negatives_per_positive=negatives_per_positive,
                         sampler=sampler, C=C, test_size=test_size, random_state=random_state,
                         max_iter=max_iter)
