"""Batch top-k for every user of a saved model, and evaluation of a saved model, on Spark.

The model's fit-time histories (its CSR of positives) are written once as a Parquet file of
one row per user (``user_id, u, tracks, pos``; built zero-copy with Arrow) that Spark reads in
partitions. Each task scores blocks of users with a light copy of the model (the track matrix
and coefficients, broadcast) exactly as :meth:`Recommender.recommend_all` does — one matrix
product and a partial sort per block — and writes ``user_id, rank, track_id, score, cold_start``.
There is never a users x tracks cross join.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

import numpy as np

from ...data import schema as S
from ...models.bundle import ModelBundle
from .fit import LiteDataset, evaluate_blocks
from .prepare import _block_csr

log = logging.getLogger(__name__)

__all__ = ["histories_parquet", "light_copy", "batch_recommend_spark", "evaluate_bundle_spark"]

BATCH_SCHEMA = "user_id string, rank int, track_id string, score double, cold_start boolean"


def histories_parquet(bundle: ModelBundle, path: Path) -> Path:
    """Write the model's histories as Parquet (one row per user) with Arrow, zero-copy from CSR."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import scipy.sparse as sp
    ds = bundle.dataset
    # every played track with its positive weight (0 = played, never enjoyed)
    played = sp.csr_matrix(ds.played, dtype=np.float32)
    played.data[:] = 1.0
    hist = sp.csr_matrix(played + sp.csr_matrix(ds.positives, dtype=np.float32))  # positives are played too
    hist.sort_indices()
    hist.data -= 1.0                                  # explicit 0 = played, not enjoyed
    offsets = pa.array(hist.indptr.astype(np.int32))
    table = pa.table({
        S.USER: pa.array(ds.users.external_ids.astype(str)),
        "u": pa.array(np.arange(ds.n_users, dtype=np.int64)),
        "tracks": pa.ListArray.from_arrays(offsets, pa.array(hist.indices.astype(np.int64))),
        "pos": pa.ListArray.from_arrays(offsets, pa.array(hist.data.astype(np.float64))),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, str(path), row_group_size=16384)
    return path


def light_copy(model):
    """The model rebuilt from its saved state over a :class:`LiteDataset` (no user x track data);
    falls back to the model itself when its state needs more of the dataset."""
    ds = model.dataset_
    try:
        meta, arrays = model.get_params_state()
        lite = type(model)()
        lite.set_params_state(LiteDataset(ds.has_content, ds.popularity()), meta, arrays)
        return lite
    except Exception:  # a model whose state needs the full dataset (e.g. item-item models)
        return model


def batch_recommend_spark(spark, bundle: ModelBundle, out: str, *, k: int = 10, strategy: str | None = None,
                          tmpdir: Path, chunk_size: int = 512, partitions: int | None = None) -> dict:
    """Top-k for every user of ``bundle``, written as a Parquet folder at ``out``."""
    model = bundle.model(strategy)
    ds = bundle.dataset
    tmp = Path(tmpdir) / f"batch-{uuid.uuid4().hex[:8]}"
    hp = histories_parquet(bundle, tmp / "histories.parquet")
    sc = spark.sparkContext
    bc = sc.broadcast({"model": light_copy(model), "ids": ds.tracks.external_ids.astype(str)})
    n_tracks = ds.n_tracks

    def run(batches):
        import pyarrow as pa
        m, ids = bc.value["model"], bc.value["ids"]
        mask = m.candidate_mask()
        for batch in batches:
            if batch.num_rows == 0:
                continue
            u, hist, played = _block_csr(batch, n_tracks)
            if isinstance(getattr(m, "dataset_", None), LiteDataset):
                m.dataset_.set_block(u.astype(np.int64), played)
            names = batch.column(S.USER).to_numpy(zero_copy_only=False)
            for s in range(0, batch.num_rows, chunk_size):
                h = hist[s:s + chunk_size]
                uidx = u[s:s + chunk_size].astype(np.int64)
                idx, vals, cold = m._top_k_block(uidx, h, k, mask, True)
                ok = np.isfinite(vals)
                n_per = ok.sum(axis=1)
                yield pa.RecordBatch.from_arrays([
                    pa.array(np.repeat(names[s:s + chunk_size], n_per).astype(str)),
                    pa.array(np.cumsum(ok, axis=1)[ok].astype(np.int32)),
                    pa.array(ids[idx[ok]]),
                    pa.array(m._output_scores(vals[ok]).astype(np.float64)),
                    pa.array(np.repeat(cold, n_per)),
                ], names=["user_id", "rank", "track_id", "score", "cold_start"])

    users = spark.read.parquet(str(hp.absolute()))
    n_parts = partitions or max(sc.defaultParallelism * 2, int(np.ceil(ds.n_users / 20000)))
    recs = users.repartition(n_parts, "u").sortWithinPartitions("u").mapInArrow(run, BATCH_SCHEMA)
    recs.write.mode("overwrite").parquet(out)
    shutil.rmtree(tmp, ignore_errors=True)
    return {"out": out, "users": int(ds.n_users), "k": int(k), "strategy": model.name,
            "partitions": int(n_parts)}


def evaluate_bundle_spark(spark, bundle: ModelBundle, sessions, *, tmpdir: Path) -> dict:
    """Evaluate a saved model on plays newer than its data cutoff (as
    :func:`trackrec.pipeline.evaluate_bundle_on_sessions`), the ranking on Spark."""
    import pandas as pd
    from pyspark.sql import functions as F

    from ...exceptions import TrainingError
    from ...pipeline import CLASSIFICATION_KEYS, _summary
    ds = bundle.dataset
    cutoff = ds.data_cutoff
    mms = float(bundle.meta.get("min_ms_played", S.DEFAULT_MIN_MS_PLAYED))
    ms = F.col(S.MS_PLAYED)
    s = sessions.filter((ms.isNull() | (ms >= mms)) & ~F.col(S.SKIPPED))
    if cutoff is not None:
        ts = pd.Timestamp(cutoff).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S.%f")
        s = s.filter(F.col(S.PLAYED_AT).isNull() | (F.col(S.PLAYED_AT) > F.to_timestamp(F.lit(ts))))
    tmp = Path(tmpdir) / f"eval-{uuid.uuid4().hex[:8]}"
    hp = histories_parquet(bundle, tmp / "histories.parquet")
    hist = spark.read.parquet(str(hp.absolute()))
    tr = spark.createDataFrame(pd.DataFrame({S.TRACK: ds.tracks.external_ids.astype(str),
                                             "t": np.arange(ds.n_tracks, dtype=np.int64)}))
    pairs = s.select(S.USER, S.TRACK).distinct().join(F.broadcast(tr), S.TRACK, "left")
    pairs = pairs.join(hist.select(S.USER, "u"), S.USER, "left")
    # users the model does not know get numbers after its users (cold start: empty history)
    new_users = pairs.filter(F.col("u").isNull()).select(S.USER).distinct().orderBy(S.USER)
    new_users = spark.createDataFrame(new_users.rdd.zipWithIndex().map(lambda r: (r[0][0], r[1] + ds.n_users)),
                                      schema=f"{S.USER} string, nu long")
    pairs = (pairs.join(new_users, S.USER, "left").select(F.coalesce("u", "nu").alias("u"),
                                                         F.coalesce("t", F.lit(-1)).alias("t")))
    seen = hist.select("u", F.explode(F.arrays_zip("tracks", "pos")).alias("h")) \
        .filter("h.pos > 0").select("u", F.col("h.tracks").alias("t"))
    pairs = pairs.join(seen.select("u", "t"), ["u", "t"], "left_anti").persist()
    n_pairs = pairs.count()
    if n_pairs == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TrainingError(f"no new listens after the model's data cutoff ({cutoff}) to evaluate on")
    models = {name: light_copy(m) for name, m in bundle.models.items()}
    per_model = evaluate_blocks(spark, hist.drop(S.USER), pairs, models, ds.n_tracks, n_users=ds.n_users)
    out = _summary(per_model, bundle.default_strategy)
    out["split"] = {"kind": "newer-than-cutoff", "cutoff": cutoff, "test_pairs": int(n_pairs),
                    "test_users": int(pairs.select("u").distinct().count())}
    for key in CLASSIFICATION_KEYS:
        if key in bundle.metrics:
            out[key] = bundle.metrics[key]
    out["engine"] = "spark"
    pairs.unpersist()
    shutil.rmtree(tmp, ignore_errors=True)
    return out
