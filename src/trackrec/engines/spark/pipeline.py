"""Train -> evaluate -> refit on Spark, ending in trackrec's own model artefact.

The same procedure as :func:`trackrec.pipeline.train`: split each user's history by time, fit
every strategy on the earlier part, rank the whole catalogue for each test user and measure the
later part, then refit on all data. The fitted state is then put into trackrec's model classes
over a :class:`~trackrec.data.dataset.Dataset` built from the aggregated (user, track) pairs
(written by Spark as Parquet and read back with Arrow), so the saved model is an ordinary
trackrec model: ``trackrec recommend``, ``evaluate`` and the service load it like a local one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...data import schema as S
from ...data.dataset import Dataset
from ...data.idmap import IdMap
from ...exceptions import ModelUnavailableError, TrainingError
from ...features.embeddings import TrackEncoder
from ...models import MODELS
from ...models.affinity import AffinityLR, AffinityLRConcat
from ...models.bundle import ModelBundle
from ...pipeline import BASELINE, CLASSIFICATION_KEYS, DEFAULT_STRATEGIES, PRIMARY, _summary
from .fit import ALSScorer, evaluate_blocks, fit_als, fit_lr, lite_model
from .prepare import (count_positive_pairs, fingerprint_spark, index_plays, interactions, pair_frame,
                      split_by_time, user_histories)

log = logging.getLogger(__name__)

__all__ = ["SPARK_STRATEGIES", "SPARK_DEFAULT_STRATEGIES", "DEFAULT_OPTIONS", "train_spark", "FitResult",
           "fit_all", "collect_dataset"]

SPARK_STRATEGIES = ("popularity", "similarity", "affinity-lr", "affinity-lr-concat", "ials")
#: The local defaults that Spark can run, plus ``ials`` (MLlib ALS).
SPARK_DEFAULT_STRATEGIES = tuple(dict.fromkeys([n for n in DEFAULT_STRATEGIES if n in SPARK_STRATEGIES] + ["ials"]))

#: trackrec's own knobs of the Spark engine (set in the ``--spark-config`` file, top level).
DEFAULT_OPTIONS = {
    "negatives_per_positive": 4,
    "sampler": "uniform",
    "max_lr_pairs": 1_000_000,     # positives + negatives the LR trains on (seeded sample above it)
    "lr_C": 1.0,
    "lr_max_iter": 50,
    "lr_tol": 1e-6,
    "als_rank": 32,
    "als_max_iter": 10,
    "als_reg": 0.05,
    "als_alpha": 10.0,
    "test_fraction": 0.2,
}


@dataclass
class FitResult:
    inter: object
    hist: object
    popularity: np.ndarray
    states: dict                     # name -> (meta, arrays) in the saved-state layout
    user_factors: object = None
    item_factors: np.ndarray | None = None
    n_positive_pairs: int = 0
    n_lr_pairs: int = 0
    lr_fraction: float = 1.0
    fit_s: dict = field(default_factory=dict)


def _noop(_: str) -> None:
    pass


def _popularity(inter, n_tracks: int) -> np.ndarray:
    pop = np.zeros(n_tracks, np.float64)
    rows = inter.filter("pos_w > 0").groupBy("t").count().toPandas()  # one row per track
    if len(rows):
        pop[rows["t"].to_numpy()] = rows["count"].to_numpy()
    return pop


def fit_all(spark, plays, *, n_tracks: int, n_catalog: int, has_content: np.ndarray, encoder: TrackEncoder | None,
            embeddings: np.ndarray | None, strategies, random_state: int, opts: dict,
            progress=_noop) -> FitResult:
    """Fit every strategy on ``plays``; returns their saved-state layouts and shared frames."""
    from pyspark import StorageLevel
    t0 = time.perf_counter()
    inter = interactions(plays).persist(StorageLevel.MEMORY_AND_DISK)
    hist = user_histories(inter).persist(StorageLevel.MEMORY_AND_DISK)
    pop = _popularity(inter, n_tracks)
    n_pos = count_positive_pairs(inter, n_catalog)
    base_s = time.perf_counter() - t0
    res = FitResult(inter=inter, hist=hist, popularity=pop, states={}, n_positive_pairs=n_pos)
    content_ok = encoder is not None and bool(has_content.any())
    for name in strategies:
        t1 = time.perf_counter()
        if name == "popularity":
            res.states[name] = ({}, {})
        elif name == "similarity":
            if not content_ok:
                raise ModelUnavailableError(f"model '{name}' needs a track catalogue with content features; "
                                            "none was given (pass --catalog)")
            res.states[name] = ({"encoder": encoder.get_state()}, {"embeddings": embeddings})
        elif name in ("affinity-lr", "affinity-lr-concat"):
            if not content_ok:
                raise ModelUnavailableError(f"model '{name}' needs a track catalogue with content features; "
                                            "none was given (pass --catalog)")
            if n_pos == 0:
                raise TrainingError("no positive plays on catalogue tracks: nothing to learn from "
                                    "(check the min play length, the skipped flags and the track ids)")
            k = int(opts["negatives_per_positive"])
            frac = min(1.0, float(opts["max_lr_pairs"]) / max(1, n_pos * (1 + k)))
            pairs_key = ("pairs", frac)
            if getattr(res, "_pairs_key", None) != pairs_key:
                progress(f"building training pairs ({n_pos} positive pairs, sample {frac:.3g})")
                pairs, _ = pair_frame(spark, hist, embeddings, has_content, negatives_per_positive=k,
                                      sampler=opts["sampler"], popularity=pop, fraction=frac,
                                      random_state=random_state)
                res._pairs = pairs.persist(StorageLevel.MEMORY_AND_DISK)
                res._pairs_key = pairs_key
                res.lr_fraction = frac
            d = embeddings.shape[1]
            cls = AffinityLR if name == "affinity-lr" else AffinityLRConcat
            proto = cls(negatives_per_positive=k, sampler=opts["sampler"], C=float(opts["lr_C"]),
                        random_state=random_state)
            progress(f"fitting {name} (MLlib LogisticRegression)")
            coef, intercept, metrics = fit_lr(res._pairs, d=d, feature_set=proto.feature_set, C=float(opts["lr_C"]),
                                              test_size=proto.test_size, max_iter=int(opts["lr_max_iter"]),
                                              tol=float(opts["lr_tol"]),
                                              random_state=random_state)
            res.n_lr_pairs = metrics["n_train_pairs"] + metrics["n_test_pairs"]
            metrics["n_positive_pairs"] = n_pos
            metrics["lr_pair_fraction"] = frac
            res.states[name] = ({"encoder": encoder.get_state(), "feature_set": proto.feature_set,
                                 "intercept": intercept, "metrics": metrics, "params": proto.get_params()},
                                {"embeddings": embeddings, "coef": coef})
        elif name == "ials":
            progress("fitting ials (MLlib ALS, implicit preferences)")
            uf, V = fit_als(inter, rank=int(opts["als_rank"]), max_iter=int(opts["als_max_iter"]),
                            reg=float(opts["als_reg"]), alpha=float(opts["als_alpha"]), random_state=random_state,
                            n_tracks=n_tracks)
            res.user_factors = uf.persist(StorageLevel.MEMORY_AND_DISK)
            res.item_factors = V
            res.states[name] = ({"rank": int(opts["als_rank"])}, {"item_factors": V})
        else:
            raise ValueError(f"strategy '{name}' is not available on the Spark engine; "
                             f"expected some of {', '.join(SPARK_STRATEGIES)}")
        res.fit_s[name] = base_s + time.perf_counter() - t1
    if hasattr(res, "_pairs"):
        res._pairs.unpersist()
    return res


def _lite_models(res: FitResult, has_content: np.ndarray) -> dict:
    out = {}
    for name, (meta, arrays) in res.states.items():
        if name == "ials":
            out[name] = ALSScorer(res.item_factors, res.popularity)
        else:
            out[name] = lite_model(name, meta, arrays, has_content, res.popularity)
    return out


def _to_pandas(sdf) -> pd.DataFrame:
    """Aggregated (not raw) data to the driver as Arrow batches."""
    to_arrow = getattr(sdf, "toArrow", None)
    if to_arrow is not None:
        return to_arrow().to_pandas()
    return sdf.toPandas()  # pragma: no cover - Spark < 4 (Arrow-enabled toPandas)


def collect_dataset(spark, plays, inter, users_sdf, tracks: IdMap, catalog_aligned: pd.DataFrame | None,
                    has_content: np.ndarray, *, n_catalog: int, fingerprint: str, tmpdir: Path) -> Dataset:
    """The model's :class:`Dataset` from Spark aggregates: distinct (user, track) pairs with their
    positive weight, brought to the driver as Arrow batches (never the raw logs)."""
    from pyspark.sql import functions as F
    users = _to_pandas(users_sdf.select(S.USER, "u")).sort_values("u")
    if len(users) and not np.array_equal(users["u"].to_numpy(), np.arange(len(users))):
        raise RuntimeError("user numbering is not dense")  # pragma: no cover
    ui = IdMap(users[S.USER].to_numpy(dtype=object))
    pairs = _to_pandas(inter.select(F.col("u").cast("int"), F.col("t").cast("int"),
                                    F.col("pos_w").cast("float")))
    shape = (len(ui), len(tracks))
    u, t, w = pairs["u"].to_numpy(), pairs["t"].to_numpy(), pairs["pos_w"].to_numpy(np.float32)
    pos = w > 0
    positives = sp.csr_matrix((w[pos], (u[pos], t[pos])), shape=shape, dtype=np.float32)
    positives.sum_duplicates()
    played = sp.csr_matrix((np.ones(len(u), bool), (u, t)), shape=shape, dtype=bool)
    played.sum_duplicates()
    row = plays.agg(F.count(F.lit(1)).alias("plays"), F.sum(F.col("pos").cast("long")).alias("pos"),
                    F.sum((F.col("t") >= n_catalog).cast("long")).alias("nic"),
                    F.date_format(F.max(S.PLAYED_AT), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS").alias("cut")).collect()[0]
    cutoff = pd.Timestamp(row["cut"], tz="UTC").isoformat() if row["cut"] else None
    stats = {"plays": int(row["plays"]), "positive_plays": int(row["pos"] or 0), "users": len(ui),
             "tracks": len(tracks), "catalog_tracks": int(has_content.sum()),
             "plays_not_in_catalog": int(row["nic"] or 0) if catalog_aligned is not None else None}
    return Dataset(users=ui, tracks=tracks, positives=positives, played=played, catalog=catalog_aligned,
                   has_content=has_content.copy(), data_cutoff=cutoff, fingerprint=fingerprint, stats=stats)


def train_spark(spark, sessions, catalog: pd.DataFrame | None, *, strategies=SPARK_DEFAULT_STRATEGIES,
                refit: bool = True, random_state: int = 0, min_ms_played: float = S.DEFAULT_MIN_MS_PLAYED,
                options: dict | None = None, tmpdir: Path, progress=_noop) -> ModelBundle:
    """Fit, evaluate on each user's later listens, refit on everything; return the bundle.

    ``sessions`` is a canonical Spark DataFrame (:func:`~trackrec.engines.spark.io.read_sessions_spark`),
    ``catalog`` the typed catalogue (pandas). The bundle's ``metrics`` carry the same keys as
    the local engine's plus ``engine``, ``spark`` (sizes, sample fraction, per-stage seconds).
    """
    from pyspark import StorageLevel
    opts = DEFAULT_OPTIONS | {k: v for k, v in (options or {}).items() if k in DEFAULT_OPTIONS}
    strategies = list(strategies)
    stage: dict[str, float] = {}
    t = time.perf_counter()
    progress("indexing users and tracks")
    idx = index_plays(spark, sessions, catalog, min_ms_played=min_ms_played, tmpdir=str(tmpdir))
    plays = idx.plays.persist(StorageLevel.MEMORY_AND_DISK)
    n_tracks = len(idx.tracks)
    has_content = np.arange(n_tracks) < idx.n_catalog
    aligned = None
    encoder = emb = None
    notes = []
    if catalog is not None:
        aligned = catalog.set_index(S.TRACK).reindex(pd.Index(idx.tracks.external_ids, name=S.TRACK)).reset_index()
        cat = aligned[has_content]
        try:
            encoder = TrackEncoder().fit(cat)
            emb = np.zeros((n_tracks, encoder.n_features_out_), np.float32)
            emb[has_content] = encoder.transform(cat.reset_index(drop=True))
        except Exception as exc:  # DataError: no content features
            notes.append(f"content models: {exc}")
            encoder = emb = None
    runnable = []
    for name in strategies:
        if name in ("similarity", "affinity-lr", "affinity-lr-concat") and encoder is None:
            notes.append(f"{name}: model '{name}' needs a track catalogue with content features; none was given "
                         "(pass --catalog)")
            continue
        runnable.append(name)
    if not runnable:
        raise TrainingError("no strategy could be trained: " + "; ".join(notes))
    fingerprint = fingerprint_spark(sessions, catalog)
    stage["index"] = time.perf_counter() - t

    t = time.perf_counter()
    progress("splitting each user's history by time")
    train_plays, test_pairs, split_info = split_by_time(plays, test_fraction=float(opts["test_fraction"]),
                                                        random_state=random_state, has_time=idx.has_time)
    train_plays = train_plays.persist(StorageLevel.MEMORY_AND_DISK)
    test_pairs = test_pairs.persist(StorageLevel.MEMORY_AND_DISK)
    stage["split"] = time.perf_counter() - t

    common = dict(n_tracks=n_tracks, n_catalog=idx.n_catalog, has_content=has_content, encoder=encoder,
                  embeddings=emb, random_state=random_state, opts=opts, progress=progress)
    t = time.perf_counter()
    ev = fit_all(spark, train_plays, strategies=runnable, **common)
    stage["fit_eval"] = time.perf_counter() - t
    t = time.perf_counter()
    progress("evaluating on held-out future listens (full catalogue, blocks of users)")
    per_model = evaluate_blocks(spark, ev.hist, test_pairs, _lite_models(ev, has_content), n_tracks,
                                user_factors=ev.user_factors)
    stage["evaluate"] = time.perf_counter() - t
    for name, m in per_model.items():
        m["fit_s"] = ev.fit_s[name]
        meta = ev.states[name][0]
        for key in CLASSIFICATION_KEYS:
            if key in meta.get("metrics", {}):
                m[key] = meta["metrics"][key]
    primary = PRIMARY if PRIMARY in per_model else next(iter(per_model))
    metrics = _summary(per_model, primary)
    row = train_plays.agg({"*": "count"}).collect()[0][0]
    split_info.update({"train_plays": int(row), "test_pairs": int(test_pairs.count()),
                       "test_users": int(test_pairs.select("u").distinct().count())})
    metrics["split"] = split_info
    metrics["notes"] = notes
    metrics["refit"] = refit
    metrics["engine"] = "spark"
    spark_info = {"n_positive_pairs": ev.n_positive_pairs, "n_lr_pairs": ev.n_lr_pairs,
                  "lr_pair_fraction": ev.lr_fraction, "max_lr_pairs": int(opts["max_lr_pairs"]),
                  "options": opts, "master": spark.sparkContext.master,
                  "default_parallelism": spark.sparkContext.defaultParallelism}

    if refit:
        t = time.perf_counter()
        progress("refitting on all data for serving")
        full = fit_all(spark, plays, strategies=list(per_model), **common)
        stage["fit_full"] = time.perf_counter() - t
        src_plays, res = plays, full
        for df in (ev.inter, ev.hist, ev.user_factors):
            if df is not None:
                df.unpersist()
    else:
        src_plays, res = train_plays, ev
    t = time.perf_counter()
    progress("collecting the model's histories (aggregated pairs as Arrow batches)")
    dataset = collect_dataset(spark, src_plays, res.inter, idx.users_sdf, idx.tracks, aligned, has_content,
                              n_catalog=idx.n_catalog, fingerprint=fingerprint, tmpdir=Path(tmpdir))
    stage["collect_dataset"] = time.perf_counter() - t
    models = {}
    for name, (meta, arrays) in res.states.items():
        if name not in MODELS:
            notes.append(f"{name}: trained and evaluated on Spark, but this trackrec version has no '{name}' "
                         "model class to save it with; left out of the artefact")
            continue
        if name == "ials":
            U = np.zeros((dataset.n_users, res.item_factors.shape[1]), np.float32)
            uf_pdf = _to_pandas(res.user_factors)  # one row per user: a small artefact
            if len(uf_pdf):
                U[uf_pdf["u"].to_numpy()] = np.stack(uf_pdf["uf"].to_numpy())
            meta = {"params": {"factors": int(opts["als_rank"]), "regularization": float(opts["als_reg"]),
                               "alpha": float(opts["als_alpha"]), "iterations": int(opts["als_max_iter"]),
                               "weighting": "binary", "random_state": random_state}}
            arrays = {"user_factors": U, "item_factors": res.item_factors}
            try:
                model = MODELS[name]()
                valid = set(model.get_params())
                meta["params"] = {k: v for k, v in meta["params"].items() if k in valid}
                model.set_params_state(dataset, meta, arrays)
            except Exception as exc:  # the registered ials class stores a different state
                notes.append(f"ials: trained and evaluated on Spark but not saved ({type(exc).__name__}: {exc})")
                continue
            models[name] = model
            continue
        model = MODELS[name]()
        model.set_params_state(dataset, meta, arrays)
        if name == "popularity":
            model.n_listeners_ = model.popularity_
        models[name] = model
    for df in (res.inter, res.hist, res.user_factors, plays, train_plays, test_pairs):
        if df is not None:
            df.unpersist()
    metrics["spark"] = spark_info | {"stage_s": {k: round(v, 2) for k, v in stage.items()}}
    if primary not in models:
        primary = next(iter(models))
    meta = {"data_cutoff": dataset.data_cutoff, "data_fingerprint": dataset.fingerprint, "data_stats": dataset.stats,
            "min_ms_played": min_ms_played, "random_state": random_state, "engine": "spark",
            "params": {n: m.get_params() for n, m in models.items()}}
    if BASELINE not in per_model:
        log.info("no popularity baseline trained")
    return ModelBundle(dataset=dataset, models=models, default_strategy=primary, metrics=metrics, meta=meta)
