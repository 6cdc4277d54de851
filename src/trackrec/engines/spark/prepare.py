"""Data preparation on Spark: id indexing, positives, the per-user time split, training pairs.

Everything here is DataFrame work over the logs; only small things reach the driver (the
catalogue, track ids, counts). Users' histories are aggregated once into one row per user
(``u, tracks: array<int>, pos: array<double>``) and later stages process those rows in Arrow
blocks (``mapInArrow``) with the local engine's own numpy code, so profiles, leave-one-out
profiles, negative sampling and pair features follow exactly the local definitions.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data import schema as S
from ...data.idmap import IdMap

log = logging.getLogger(__name__)

__all__ = ["Indexed", "index_plays", "split_by_time", "interactions", "user_histories",
           "pair_frame", "count_positive_pairs", "fingerprint_spark"]

U, T = "u", "t"


@dataclass
class Indexed:
    """Sessions with dense ids: ``plays`` (u, t, track_id, played_at, w, pos) and the id maps."""

    plays: object          # Spark DataFrame
    users_sdf: object      # user_id, u
    tracks: IdMap          # catalogue tracks first, then session-only tracks (sorted)
    n_catalog: int
    has_time: bool


def index_plays(spark, sessions, catalog: pd.DataFrame | None, *, min_ms_played: float,
                tmpdir: str) -> Indexed:
    """Dense user and track numbers and the positive flag of every play.

    Tracks: the catalogue's tracks in catalogue order, then tracks that only appear in the
    sessions (sorted). Users: sorted by id. The positive flag is the local one: at least
    ``min_ms_played`` ms (unknown length counts) and not skipped.
    """
    from pyspark.sql import functions as F
    cat_ids = catalog[S.TRACK].astype(str).to_numpy(dtype=object) if catalog is not None else np.array([], object)
    cat_sdf = spark.createDataFrame(pd.DataFrame({S.TRACK: cat_ids.astype(str), T: np.arange(len(cat_ids))}),
                                    schema=f"{S.TRACK} string, {T} long")
    extra = (sessions.select(S.TRACK).distinct().join(F.broadcast(cat_sdf), S.TRACK, "left_anti")
             .orderBy(S.TRACK))
    extra_ids = [r[0] for r in extra.collect()]  # tracks (not plays) without a catalogue row
    tracks = IdMap(np.concatenate([cat_ids, np.asarray(extra_ids, dtype=object)]))
    tr_sdf = spark.createDataFrame(pd.DataFrame({S.TRACK: tracks.external_ids.astype(str),
                                                 T: np.arange(len(tracks))}),
                                   schema=f"{S.TRACK} string, {T} long")
    users = sessions.select(S.USER).distinct().orderBy(S.USER)
    users_sdf = spark.createDataFrame(users.rdd.zipWithIndex().map(lambda r: (r[0][0], r[1])),
                                      schema=f"{S.USER} string, {U} long")
    users_sdf = users_sdf.persist()
    ms = F.col(S.MS_PLAYED)
    pos = (ms.isNull() | (ms >= float(min_ms_played))) & ~F.col(S.SKIPPED)
    plays = (sessions.join(F.broadcast(tr_sdf), S.TRACK).join(users_sdf, S.USER)
             .select(U, T, S.USER, S.TRACK, S.PLAYED_AT, F.col(S.WEIGHT).alias("w"), pos.alias("pos")))
    has_time = sessions.filter(F.col(S.PLAYED_AT).isNull()).limit(1).count() == 0
    return Indexed(plays=plays, users_sdf=users_sdf, tracks=tracks, n_catalog=len(cat_ids), has_time=has_time)


def split_by_time(plays, *, test_fraction: float = 0.2, random_state: int = 0, has_time: bool = True):
    """Per-user split, as :func:`trackrec.evaluation.split.split_sessions`.

    Returns ``(train_plays, test_pairs(u, t), info)``. With timestamps: each user's distinct
    positive tracks ordered by first positive play (ties by track id); the last
    ``floor(test_fraction * n)`` are test; training keeps the user's plays strictly before the
    first test track's first play. Without timestamps: a seeded random share of pairs.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    first = (plays.filter("pos").groupBy(U, T, S.TRACK).agg(F.min(S.PLAYED_AT).alias("first_at")))
    if has_time:
        order = Window.partitionBy(U).orderBy("first_at", S.TRACK)
    else:
        first = first.withColumn("_r", F.rand(int(random_state)))
        order = Window.partitionBy(U).orderBy("_r")
    n = F.count(F.lit(1)).over(Window.partitionBy(U))
    ranked = first.withColumn("_rank", F.row_number().over(order) - 1).withColumn("_n", n)
    ranked = ranked.withColumn("_test", F.col("_rank") >= F.col("_n") - F.floor(F.col("_n") * float(test_fraction)))
    test = ranked.filter("_test").select(U, T, "first_at")
    if has_time:
        cut = test.groupBy(U).agg(F.min("first_at").alias("_cut"))
        train = (plays.join(cut, U, "left")
                 .filter(F.col("_cut").isNull() | (F.col(S.PLAYED_AT) < F.col("_cut"))).drop("_cut"))
        info = {"kind": "per-user-time", "test_fraction": test_fraction}
    else:
        train = plays.join(test.select(U, T), [U, T], "left_anti")
        info = {"kind": "per-user-random", "test_fraction": test_fraction, "seed": random_state}
    return train, test.select(U, T), info


def interactions(plays):
    """One row per played (user, track): ``u, t, pos_w`` (sum of weights of positive plays,
    0 for tracks only played without a positive play)."""
    from pyspark.sql import functions as F
    return plays.groupBy(U, T).agg(F.sum(F.when(F.col("pos"), F.col("w")).otherwise(0.0)).alias("pos_w"))


def user_histories(inter):
    """One row per user: ``u, tracks (array<long>), pos (array<double>)`` sorted by track."""
    from pyspark.sql import functions as F
    return (inter.groupBy(U)
            .agg(F.sort_array(F.collect_list(F.struct(T, "pos_w"))).alias("_h"))
            .select(U, F.col(f"_h.{T}").alias("tracks"), F.col("_h.pos_w").alias("pos")))


def count_positive_pairs(inter, n_catalog: int) -> int:
    """Distinct (user, track) pairs with a positive play on a catalogue track."""
    from pyspark.sql import functions as F
    return int(inter.filter((F.col("pos_w") > 0) & (F.col(T) < n_catalog)).count())


def _block_csr(batch, n_tracks: int):
    """(users, positives csr, played csr) of an Arrow batch of :func:`user_histories` rows."""
    import scipy.sparse as sp
    u = batch.column("u").to_numpy(zero_copy_only=False)
    tr, po = batch.column("tracks"), batch.column("pos")
    offsets = tr.offsets.to_numpy()
    base = offsets[0]
    indptr = (offsets - base).astype(np.int64)
    idx = tr.values.to_numpy(zero_copy_only=False)[base:offsets[-1]].astype(np.int64)
    po_off = po.offsets.to_numpy()
    val = po.values.to_numpy(zero_copy_only=False)[po_off[0]:po_off[-1]].astype(np.float32)
    shape = (len(u), n_tracks)
    played = sp.csr_matrix((np.ones(len(idx), bool), idx, indptr), shape=shape)
    positives = sp.csr_matrix((val, idx, indptr), shape=shape)
    positives.eliminate_zeros()
    return u, positives, played


_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uniform(seed: int, users: np.ndarray, tracks: np.ndarray, salt: np.ndarray) -> np.ndarray:
    """A uniform [0, 1) number per (seed, user, track, salt): the same wherever it is computed,
    so seeded draws do not depend on how users are split into blocks or partitions."""
    h = _mix(np.full(len(users), seed, np.uint64))
    h = _mix(h ^ users.astype(np.uint64))
    h = _mix(h ^ tracks.astype(np.uint64))
    h = _mix(h ^ salt.astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def sample_negatives_hashed(played, rows: np.ndarray, users: np.ndarray, pos_tracks: np.ndarray, k: int,
                            candidates: np.ndarray, *, seed: int, cdf: np.ndarray | None = None,
                            max_rounds: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """``k`` negatives per positive (block row ``rows``, global user ``users``, track
    ``pos_tracks``), never a track in that row of ``played``: rejection sampling where draw j of
    round r is a hash of (seed, user, positive track, j, r). Returns (row, track) of the kept draws."""
    n_tracks = played.shape[1]
    ex = played.tocsr()
    ex.sort_indices()
    ex_keys = (np.repeat(np.arange(ex.shape[0], dtype=np.int64), np.diff(ex.indptr)) * n_tracks
               + ex.indices.astype(np.int64))
    r = np.repeat(rows, k)
    u = np.repeat(users, k)
    t = np.repeat(pos_tracks, k)
    j = np.tile(np.arange(k, dtype=np.int64), len(rows))
    out = np.full(len(r), -1, np.int64)
    todo = np.arange(len(r))
    for rnd in range(max_rounds):
        if len(todo) == 0:
            break
        x = _uniform(seed, u[todo], t[todo], j[todo] * 1000 + rnd)
        if cdf is None:
            draw = candidates[np.minimum((x * len(candidates)).astype(np.int64), len(candidates) - 1)]
        else:
            draw = candidates[np.searchsorted(cdf, x, side="right").clip(0, len(candidates) - 1)]
        keys = r[todo] * n_tracks + draw
        p = np.searchsorted(ex_keys, keys)
        hit = (p < len(ex_keys)) & (ex_keys[np.minimum(p, max(len(ex_keys) - 1, 0))] == keys) if len(ex_keys) \
            else np.zeros(len(keys), bool)
        out[todo[~hit]] = draw[~hit]
        todo = todo[hit]
    if len(todo):
        log.warning("dropped %d negative draws for users who played nearly every track", len(todo))
    keep = out >= 0
    return r[keep], out[keep]


def pair_frame(spark, histories, embeddings: np.ndarray, has_content: np.ndarray, *,
               negatives_per_positive: int = 4, sampler: str = "uniform", popularity=None,
               fraction: float = 1.0, random_state: int = 0):
    """Training pairs ``u, t, label, features`` (bilinear ``[u, t, u*t, cos]``, float32 array).

    Per block of users, with the local code: leave-one-out profiles for positives, negatives
    drawn among catalogue tracks the user never played by :func:`sample_negatives_hashed`
    (rejection sampling against the user's full played row, so a played track is never a
    negative; uniform or popularity^0.75 as the local sampler). ``fraction`` < 1 keeps a seeded
    sample of positive pairs (with their negatives) to bound the LR training set. Every draw is
    a hash of (``random_state``, user, track, draw number), so the pairs are the same however the
    users are partitioned.
    """
    import pyarrow as pa

    from ...features.pairs import SAMPLERS, pair_features
    from ...features.profiles import history_weights
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    sc = spark.sparkContext
    bc = sc.broadcast({"emb": embeddings.astype(np.float32), "has": has_content,
                       "pop": None if popularity is None else np.asarray(popularity, np.float64)})
    d = embeddings.shape[1]
    n_tracks = len(has_content)
    k = int(negatives_per_positive)

    def run(batches):
        emb, has, pop = bc.value["emb"], bc.value["has"], bc.value["pop"]
        cand = np.flatnonzero(has)
        cdf = None
        if sampler == "popularity":
            w = (np.asarray(pop, np.float64)[cand] + 1.0) ** 0.75
            cdf = np.cumsum(w) / w.sum()
        for batch in batches:
            if batch.num_rows == 0:
                continue
            users, positives, played = _block_csr(batch, n_tracks)
            w = history_weights(positives, has)
            w.eliminate_zeros()
            coo = w.tocoo()
            pu, pt, pw = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64)
            if len(pu) == 0:
                continue
            sums = np.asarray(w @ emb, dtype=np.float64)
            total = np.asarray(w.sum(axis=1), dtype=np.float64).ravel()
            prof = np.divide(sums, total[:, None], out=np.zeros_like(sums), where=total[:, None] > 0)
            if fraction < 1.0:
                keep = _uniform(int(random_state), users[pu], pt, np.full(len(pu), 999_983)) < fraction
                pu, pt, pw = pu[keep], pt[keep], pw[keep]
                if len(pu) == 0:
                    continue
            rest = total[pu] - pw
            mean_profile = prof[total > 0].mean(axis=0)
            loo = np.where(rest[:, None] > 1e-12,
                           (sums[pu] - pw[:, None] * emb[pt]) / np.maximum(rest, 1e-12)[:, None], mean_profile)
            nu, nt = sample_negatives_hashed(played, pu, users[pu], pt, k, cand, seed=int(random_state), cdf=cdf)
            X = pair_features(np.vstack([loo, prof[nu]]).astype(np.float32),
                              np.vstack([emb[pt], emb[nt]]).astype(np.float32), "bilinear")
            y = np.concatenate([np.ones(len(pu)), np.zeros(len(nu))])
            rows = np.concatenate([pu, nu])
            width = X.shape[1]
            feats = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.float32()), width)
            yield pa.RecordBatch.from_arrays(
                [pa.array(users[rows].astype(np.int64)), pa.array(np.concatenate([pt, nt]).astype(np.int64)),
                 pa.array(y), feats.cast(pa.list_(pa.float32()))],
                names=["u", "t", "label", "features"])

    schema = "u long, t long, label double, features array<float>"
    # A fixed partitioning (explicit count: adaptive execution keeps it) and order make the
    # blocks, hence the seeded draws, the same on every run.
    n_parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
    blocks = histories.repartition(n_parts, "u").sortWithinPartitions("u")
    return blocks.mapInArrow(run, schema), 3 * d + 1


def fingerprint_spark(sessions, catalog: pd.DataFrame | None) -> str:
    """An order-independent digest of the (user, track) pairs and the catalogue ids."""
    from pyspark.sql import functions as F
    row = sessions.agg(F.count(F.lit(1)).alias("n"),
                       F.sum(F.xxhash64(S.USER, S.TRACK).cast("decimal(38,0)")).alias("h")).collect()[0]
    h = hashlib.sha256(f"spark:{row['n']}:{row['h']}".encode())
    if catalog is not None:
        h.update(pd.util.hash_pandas_object(catalog[[S.TRACK]], index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]
