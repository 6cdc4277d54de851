"""Train -> evaluate -> refit: the one training procedure the CLI, the service and the Spark
engine's local counterpart share.

``train`` fits every strategy on the earlier part of each user's history, measures it on the
later part (which the models never saw), then (``refit=True``) fits again on all data for
serving. The metrics, the split and the data cutoff are stored with the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .data.dataset import Dataset
from .data import schema as S
from .evaluation.runner import evaluate_ranking
from .evaluation.split import split_sessions
from .exceptions import ModelUnavailableError, TrainingError
from .models import make_model
from .models.bundle import ModelBundle

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_STRATEGIES", "fit_models", "train", "evaluate_bundle_on_sessions"]

DEFAULT_STRATEGIES: tuple[str, ...] = ("popularity", "similarity", "affinity-lr", "affinity-lr-concat", "ease",
                                       "ials", "affinity-ranker")
PRIMARY = "affinity-lr"
BASELINE = "popularity"
CLASSIFICATION_KEYS = ("accuracy", "roc_auc", "n_train_pairs", "n_test_pairs")

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def fit_models(dataset: Dataset, strategies: Sequence[str], *, params: dict | None = None,
               random_state: int = 0, progress: Progress = _noop) -> tuple[dict, dict, list[str]]:
    """Fit each strategy; returns (models, fit seconds, notes on strategies that cannot run)."""
    params = params or {}
    models, fit_s, notes = {}, {}, []
    for name in strategies:
        progress(f"fitting {name}")
        p = dict(params.get(name, {}))
        model = make_model(name, **p)
        if "random_state" in model.get_params():
            model.set_params(random_state=random_state)
        t0 = time.perf_counter()
        try:
            if name == "affinity-ranker":
                model.fit(dataset, prefit=models)  # reuses the EASE/iALS fitted just before
            else:
                model.fit(dataset)
        except ModelUnavailableError as exc:
            notes.append(f"{name}: {exc}")
            log.warning("skipping %s: %s", name, exc)
            continue
        fit_s[name] = time.perf_counter() - t0
        models[name] = model
    if not models:
        raise TrainingError("no strategy could be trained: " + "; ".join(notes))
    return models, fit_s, notes


def _summary(per_model: dict, primary: str) -> dict:
    out = {}
    main = per_model.get(primary) or next(iter(per_model.values()))
    out.update({k: v for k, v in main.items()})
    out["strategy"] = primary if primary in per_model else next(iter(per_model))
    if BASELINE in per_model:
        out["baseline"] = {"strategy": BASELINE} | {k: v for k, v in per_model[BASELINE].items()
                                                    if k not in CLASSIFICATION_KEYS}
    out["models"] = per_model
    return out


def _check_memory(sessions: pd.DataFrame, catalog: pd.DataFrame | None) -> None:
    """Fail early, pointing at ``--engine spark``, when the local engine would run out of memory."""
    import os
    from .engines.spark.memory import check_local_memory
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        limit = 24 * 2**30
    n_tracks = sessions[S.TRACK].nunique() + (len(catalog) if catalog is not None else 0)
    check_local_memory(sessions[S.USER].nunique(), n_tracks, len(sessions), limit=limit)


def train(sessions: pd.DataFrame, catalog: pd.DataFrame | None = None, *,
          strategies: Sequence[str] = DEFAULT_STRATEGIES, params: dict | None = None, refit: bool = True,
          test_fraction: float = 0.2, random_state: int = 0, min_ms_played: float = S.DEFAULT_MIN_MS_PLAYED,
          skips_are_negative: bool = True,
          default_strategy: str = PRIMARY, tune: int = 0, progress: Progress = _noop) -> ModelBundle:
    """Fit, evaluate on each user's later listens, refit on everything; return the bundle.

    ``tune`` > 0 runs that many Optuna trials for EASE and iALS on a validation split carved
    out of the training part (never the test part); the ranker's generators use the result.
    """
    _check_memory(sessions, catalog)
    progress("splitting each user's history by time")
    train_s, test_pairs, split_info = split_sessions(sessions, test_fraction=test_fraction,
                                                     random_state=random_state, min_ms_played=min_ms_played,
                                                     skips_are_negative=skips_are_negative)
    eval_ds = Dataset.from_frames(train_s, catalog, min_ms_played=min_ms_played,
                                  skips_are_negative=skips_are_negative)
    params = dict(params or {})
    if tune and any(n in strategies for n in ("ease", "ials", "affinity-ranker")):
        from .evaluation.tuning import tune_collaborative
        progress(f"tuning EASE and iALS ({tune} trials each) on a validation split of train")
        tuned = tune_collaborative(eval_ds, n_trials=tune, random_state=random_state)
        for name, p in tuned.items():
            params.setdefault(name, p)
        params.setdefault("affinity-ranker", {}).setdefault("generator_params", tuned)
    models, fit_s, notes = fit_models(eval_ds, strategies, params=params, random_state=random_state,
                                      progress=progress)
    per_model = {}
    for name, model in models.items():
        progress(f"evaluating {name} on held-out future listens")
        m = evaluate_ranking(model, test_pairs)
        m["fit_s"] = fit_s[name]
        if hasattr(model, "explain"):
            m["ranker_mode"] = model.mode_
            m["weights"] = model.explain()
        for key in CLASSIFICATION_KEYS:
            if key in getattr(model, "metrics_", {}):
                m[key] = model.metrics_[key]
        per_model[name] = m
    primary = default_strategy if default_strategy in models else next(iter(models))
    metrics = _summary(per_model, primary)
    metrics["split"] = split_info
    metrics["notes"] = notes
    metrics["refit"] = refit
    if refit:
        progress("refitting on all data for serving")
        full_ds = Dataset.from_frames(sessions, catalog, min_ms_played=min_ms_played,
                                      skips_are_negative=skips_are_negative)
        models, _, _ = fit_models(full_ds, list(models), params=params, random_state=random_state,
                                  progress=progress)
        ds = full_ds
    else:
        ds = eval_ds
    meta = {"data_cutoff": ds.data_cutoff, "data_fingerprint": ds.fingerprint, "data_stats": ds.stats,
            "min_ms_played": min_ms_played, "skips_are_negative": skips_are_negative,
            "random_state": random_state,
            "params": {n: m.get_params() for n, m in models.items()}}
    return ModelBundle(dataset=ds, models=models, default_strategy=primary, metrics=metrics, meta=meta)


def evaluate_bundle_on_sessions(bundle: ModelBundle, sessions: pd.DataFrame, *,
                                min_ms_played: float | None = None) -> dict:
    """Evaluate a saved model on listens newer than the data it was trained on.

    Test pairs: positive plays after the model's data cutoff of tracks the user had not enjoyed
    in the training data. Returns metrics in the same shape as training's.
    """
    from .data.dataset import positive_mask
    cutoff = bundle.dataset.data_cutoff
    mms = bundle.meta.get("min_ms_played", S.DEFAULT_MIN_MS_PLAYED) if min_ms_played is None else min_ms_played
    s = sessions[positive_mask(sessions, min_ms_played=mms,
                               skips_are_negative=bundle.meta.get("skips_are_negative", True))]
    if cutoff is not None and s[S.PLAYED_AT].notna().any():
        s = s[s[S.PLAYED_AT] > pd.Timestamp(cutoff)]
    pairs = s[[S.USER, S.TRACK]].drop_duplicates()
    ds = bundle.dataset
    u = ds.users.get_indexer(pairs[S.USER].to_numpy(dtype=object))
    t = ds.tracks.get_indexer(pairs[S.TRACK].to_numpy(dtype=object))
    seen = (u >= 0) & (t >= 0)
    if seen.any():
        seen[seen] = np.asarray(ds.positives[u[seen], t[seen]]).ravel() > 0
    pairs = pairs[~seen]
    if len(pairs) == 0:
        raise TrainingError(f"no new listens after the model's data cutoff ({cutoff}) to evaluate on")
    per_model = {name: evaluate_ranking(m, pairs) for name, m in bundle.models.items()}
    out = _summary(per_model, bundle.default_strategy)
    out["split"] = {"kind": "newer-than-cutoff", "cutoff": cutoff, "test_pairs": int(len(pairs)),
                    "test_users": int(pairs[S.USER].nunique())}
    for key in CLASSIFICATION_KEYS:  # classification figures stay those measured at training
        if key in bundle.metrics:
            out[key] = bundle.metrics[key]
    return out
