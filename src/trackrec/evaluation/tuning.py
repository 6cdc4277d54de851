"""Hyperparameter search for the collaborative models on a validation split of train (Optuna)."""

from __future__ import annotations

import logging

import numpy as np

from ..data.dataset import Dataset
from ..models import make_model
from ..models.ranker import validation_split
from .metrics import ranking_metrics

log = logging.getLogger(__name__)

__all__ = ["tune_collaborative", "validation_ndcg"]


def validation_ndcg(model, fit_ds: Dataset, val_pos) -> float:
    users = np.flatnonzero(np.diff(val_pos.indptr) > 0)
    recs = []
    for s in range(0, len(users), 2048):
        u = users[s:s + 2048]
        recs.append(model.rank_internal(u, fit_ds.positives[u], 10))
    return ranking_metrics(np.vstack(recs), val_pos[users])["ndcg@10"]


def tune_collaborative(dataset: Dataset, *, n_trials: int = 20, random_state: int = 0,
                       val_fraction: float = 0.2) -> dict:
    """Best ``{"ease": {...}, "ials": {...}}`` found in ``n_trials`` trials each, judged by
    NDCG@10 on a validation split carved out of ``dataset`` (the training data)."""
    try:
        import optuna
    except ImportError as exc:
        raise ImportError("--tune needs Optuna: pip install 'trackrec[tune]'") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(random_state)
    fit_pos, val_pos = validation_split(dataset.positives, dataset.first_played, val_fraction, rng)
    fit_ds = dataset.with_positives(fit_pos)
    spaces = {
        "ease": lambda t: {"l2": t.suggest_float("l2", 10.0, 3000.0, log=True)},
        "ials": lambda t: {"factors": t.suggest_categorical("factors", [32, 64, 128]),
                           "regularization": t.suggest_float("regularization", 1e-3, 10.0, log=True),
                           "alpha": t.suggest_float("alpha", 1.0, 50.0, log=True),
                           "iterations": 15},
    }
    best = {}
    for name, space in spaces.items():
        def objective(trial, name=name, space=space):
            model = make_model(name, **space(trial))
            if "random_state" in model.get_params():
                model.set_params(random_state=random_state)
            model.fit(fit_ds)
            return validation_ndcg(model, fit_ds, val_pos)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=random_state))
        study.optimize(objective, n_trials=n_trials)
        best[name] = dict(study.best_params)
        if name == "ials":
            best[name]["iterations"] = 15
        log.info("tuned %s: %s (validation NDCG@10 %.4f)", name, best[name], study.best_value)
    return best
