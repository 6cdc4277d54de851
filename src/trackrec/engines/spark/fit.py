"""Models on Spark: MLlib logistic regression (``affinity-lr``), MLlib ALS (``ials``), and the
evaluation of every model over full-catalogue rankings, scored in blocks of users.

Fitted content models are carried as the *saved state* of trackrec's own classes
(:meth:`~trackrec.models.base.Recommender.get_params_state` layout), so the same state builds
the model that goes into the artefact and a light copy that Spark tasks score with (broadcast:
the track matrix and a few coefficient vectors, never the users x tracks matrix).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ...evaluation.metrics import METRIC_KEYS, ranking_metrics
from ...models import MODELS
from ...models.base import top_k
from .prepare import _block_csr

log = logging.getLogger(__name__)

__all__ = ["LiteDataset", "lite_model", "fit_lr", "fit_als", "ALSScorer", "evaluate_blocks"]


class _BlockRows:
    """``played[global_user_indices]`` answered from the rows of the block being scored."""

    def __init__(self, users: np.ndarray, rows):
        self.order = np.argsort(users, kind="stable")
        self.users = np.asarray(users)[self.order]
        self.rows = rows

    def __getitem__(self, uidx):
        uidx = np.asarray(uidx, dtype=np.int64)
        pos = np.searchsorted(self.users, uidx)
        pos = np.minimum(pos, max(len(self.users) - 1, 0))
        if len(uidx) and not np.array_equal(self.users[pos], uidx):
            raise KeyError("user outside the block being scored")
        return self.rows[self.order[pos]]


class LiteDataset:
    """What a fitted model needs from its dataset to *score* a block of users: has_content,
    popularity, and the block's played rows (``set_block``), never the whole users x tracks data."""

    def __init__(self, has_content: np.ndarray, popularity: np.ndarray):
        self.has_content = np.asarray(has_content, bool)
        self._pop = np.asarray(popularity, np.float64)
        self.played = _BlockRows(np.zeros(0, np.int64), None)

    def set_block(self, users: np.ndarray, played) -> None:
        """Rows of ``played`` (csr) belong to the global user numbers ``users``."""
        self.played = _BlockRows(users, played)

    @property
    def n_tracks(self) -> int:
        return len(self.has_content)

    def popularity(self) -> np.ndarray:
        return self._pop


def lite_model(name: str, meta: dict, arrays: dict, has_content: np.ndarray, popularity: np.ndarray):
    """A trackrec model rebuilt from saved state over a :class:`LiteDataset` (cheap to broadcast)."""
    model = MODELS[name]()
    model.set_params_state(LiteDataset(has_content, popularity), meta, arrays)
    return model


def fit_lr(pairs, *, d: int, feature_set: str = "bilinear", C: float = 1.0, test_size: float = 0.2,
           max_iter: int = 100, tol: float = 1e-6, random_state: int = 0) -> tuple[np.ndarray, float, dict]:
    """MLlib ``LogisticRegression`` on the pairs: (coef, intercept, metrics).

    Regularisation matches scikit-learn's ``C`` on standardised features (``regParam = 1 /
    (C * n_train)``, ``standardization=True``); MLlib returns coefficients on the original
    scale, so they drop straight into :class:`~trackrec.models.AffinityLR`. Accuracy and ROC AUC
    (exact, ``numBins=0``) are measured on a seeded ``test_size`` share of the pairs.
    """
    from pyspark import StorageLevel
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import VectorSlicer
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.sql import functions as F

    from ...exceptions import TrainingError
    from ...models.affinity import MIN_SAMPLES
    df = pairs.select(array_to_vector("features").alias("fv"), "label")
    col = "fv"
    if feature_set == "concat":
        df = VectorSlicer(inputCol="fv", outputCol="fc", indices=list(range(2 * d))).transform(df)
        col = "fc"
    df = df.select(F.col(col).alias("x"), "label")
    train, test = df.randomSplit([1.0 - test_size, test_size], seed=int(random_state))
    train = train.persist(StorageLevel.MEMORY_AND_DISK)
    counts = {r["label"]: r["count"] for r in train.groupBy("label").count().collect()}
    n_train = int(sum(counts.values()))
    if n_train < MIN_SAMPLES:
        raise TrainingError(f"not enough data to train: {n_train} sample(s), need at least {MIN_SAMPLES}")
    if len(counts) < 2:
        raise TrainingError(f"cannot train: all {n_train} labels are {int(next(iter(counts)))}; "
                            "need both listened and not-listened pairs")
    lr = LogisticRegression(featuresCol="x", labelCol="label", regParam=1.0 / (C * n_train), elasticNetParam=0.0,
                            standardization=True, maxIter=int(max_iter), tol=float(tol), family="binomial")
    model = lr.fit(train)
    pred = model.transform(test).select("label", "rawPrediction", "prediction",
                                        vector_to_array("probability")[1].alias("p"))
    pred = pred.persist(StorageLevel.MEMORY_AND_DISK)
    auc = BinaryClassificationEvaluator(rawPredictionCol="rawPrediction", labelCol="label",
                                        metricName="areaUnderROC", numBins=0).evaluate(pred)
    row = pred.agg(F.avg((F.col("prediction") == F.col("label")).cast("double")).alias("acc"),
                   F.count(F.lit(1)).alias("n"), F.avg("label").alias("pr")).collect()[0]
    metrics = {"accuracy": float(row["acc"]), "roc_auc": float(auc), "n_train_pairs": n_train,
               "lr_iterations": int(model.summary.totalIterations) if model.hasSummary else None,
               "n_test_pairs": int(row["n"]),
               "positive_rate": float((counts.get(1.0, 0) + row["pr"] * row["n"]) / (n_train + row["n"]))}
    train.unpersist()
    pred.unpersist()
    return np.asarray(model.coefficients.toArray(), np.float64), float(model.intercept), metrics


def fit_als(inter, *, rank: int = 32, max_iter: int = 10, reg: float = 0.05, alpha: float = 10.0,
            random_state: int = 0, n_tracks: int):
    """MLlib ``ALS(implicitPrefs=True)`` on binary positives (confidence ``1 + alpha``, as
    :class:`~trackrec.models.IALS` with ``weighting="binary"``): (user factors DataFrame
    ``u, uf``, item factor matrix n_tracks x rank (zeros for tracks without positives))."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F
    data = inter.filter("pos_w > 0").select(F.col("u").cast("int").alias("u"), F.col("t").cast("int").alias("t"),
                                            F.lit(1.0).cast("float").alias("r"))  # binary, as IALS
    als = ALS(rank=int(rank), maxIter=int(max_iter), regParam=float(reg), alpha=float(alpha), implicitPrefs=True,
              userCol="u", itemCol="t", ratingCol="r", seed=int(random_state), coldStartStrategy="drop",
              intermediateStorageLevel="MEMORY_AND_DISK", finalStorageLevel="MEMORY_AND_DISK")
    model = als.fit(data)
    items = model.itemFactors.toPandas()  # one row per track: a small artefact
    V = np.zeros((n_tracks, int(rank)), np.float32)
    if len(items):
        V[items["id"].to_numpy()] = np.stack(items["features"].to_numpy()).astype(np.float32)
    uf = model.userFactors.select(F.col("id").cast("long").alias("u"), F.col("features").alias("uf"))
    return uf, V


class ALSScorer:
    """Scores ``user_factors @ item_factors.T``; users without factors get popular tracks."""

    name = "ials"

    def __init__(self, item_factors: np.ndarray, popularity: np.ndarray):
        self.V = np.ascontiguousarray(item_factors, np.float32)
        p = np.asarray(popularity, np.float32)
        self.pop = p / p.max() if p.max() > 0 else p

    def top_k(self, uf: np.ndarray, has_uf: np.ndarray, hist, k: int, exclude_listened: bool = True):
        scores = uf.astype(np.float32) @ self.V.T
        scores[~has_uf] = self.pop
        if exclude_listened and hist.nnz:
            rows = np.repeat(np.arange(hist.shape[0]), np.diff(hist.indptr))
            scores[rows, hist.indices] = -np.inf
        idx, vals = top_k(scores, k)
        return idx, vals, ~has_uf

    def rank_internal(self, uf, has_uf, hist, k):
        idx, vals, _ = self.top_k(uf, has_uf, hist, k)
        return np.where(np.isfinite(vals), idx, -1)


def _factors(batch, name: str, rank: int) -> tuple[np.ndarray, np.ndarray]:
    col = batch.column(name)
    n = len(col)
    has = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
    out = np.zeros((n, rank), np.float32)
    if has.any():
        off = col.offsets.to_numpy()
        vals = col.values.to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(has)
        out[rows] = vals[off[rows][:, None] + np.arange(rank)]
    return out, has


def evaluate_blocks(spark, histories, test_pairs, models: dict, n_tracks: int, *, user_factors=None,
                    k: int = 20, chunk_size: int = 512, n_users: int | None = None) -> dict:
    """Ranking metrics of each model over full-catalogue rankings, users scored in blocks.

    ``histories``: ``u, tracks, pos`` (training positives, excluded from the ranking);
    ``test_pairs``: ``u, t`` (``t = -1`` for a test track the model does not know: relevant,
    never recommendable). ``models``: name -> light trackrec model or :class:`ALSScorer`.
    ``n_users``: users numbered at or above it are unknown to the models (cold start).
    Returns ``{name: {ndcg@10, recall@20, map@10, hitrate@10, coverage@10, users, recommend_s}}``.
    """
    import pyarrow as pa
    import scipy.sparse as sp
    from pyspark.sql import functions as F
    sc = spark.sparkContext
    bc = sc.broadcast(models)
    names = list(models)
    rank = models["ials"].V.shape[1] if "ials" in models else 0
    df = test_pairs.groupBy("u").agg(F.collect_list("t").alias("test")).join(histories, "u", "left")
    if user_factors is not None and "ials" in models:
        df = df.join(user_factors, "u", "left")

    def run(batches):
        ms = bc.value
        for batch in batches:
            if batch.num_rows == 0:
                continue
            n = batch.num_rows
            u, hist, played = _block_csr(batch, n_tracks)
            for m in ms.values():
                ds = getattr(m, "dataset_", None)
                if isinstance(ds, LiteDataset):
                    ds.set_block(u.astype(np.int64), played)
            tcol = batch.column("test")
            toff = tcol.offsets.to_numpy()
            tv = tcol.values.to_numpy(zero_copy_only=False)[toff[0]:toff[-1]].astype(np.int64)
            tptr = toff - toff[0]
            rows = np.repeat(np.arange(n), np.diff(tptr))
            unknown = tv < 0
            tv = tv.copy()
            tv[unknown] = n_tracks + np.arange(int(unknown.sum()))
            test = sp.csr_matrix((np.ones(len(tv), np.float32), (rows, tv)),
                                 shape=(n, n_tracks + int(unknown.sum())))
            test.sum_duplicates()
            uf, has_uf = (_factors(batch, "uf", rank) if (rank and "uf" in batch.schema.names)
                          else (None, None))
            for name in names:
                m = ms[name]
                t0 = time.perf_counter()
                recs = np.full((n, k), -1, np.int64)
                for s in range(0, n, chunk_size):
                    sl = slice(s, s + chunk_size)
                    h = hist[sl]
                    if isinstance(m, ALSScorer):
                        if uf is None:
                            u_f, h_f = np.zeros((n, m.V.shape[1]), np.float32), np.zeros(n, bool)
                        else:
                            u_f, h_f = uf, has_uf
                        recs[sl] = m.rank_internal(u_f[sl], h_f[sl], h, k)
                    else:
                        ub = u[sl].astype(np.int64)
                        if n_users is not None:
                            ub = np.where(ub < n_users, ub, -1)
                        recs[sl] = m.rank_internal(ub, h, k)
                secs = time.perf_counter() - t0
                r = ranking_metrics(recs, test, n_candidates=1)
                users = int(r["users"])
                top = np.unique(recs[:, :10][(recs[:, :10] >= 0) & (np.diff(test.indptr) > 0)[:, None]])
                yield pa.RecordBatch.from_pydict({
                    "model": [name], "users": [users], "secs": [secs],
                    **{key: [float(r[key]) * users if users else 0.0] for key in METRIC_KEYS if key != "coverage@10"},
                    "top": [top.astype(np.int64)]},
                    schema=_EVAL_SCHEMA)

    _EVAL_SCHEMA = pa.schema([("model", pa.string()), ("users", pa.int64()), ("secs", pa.float64()),
                              *[(key, pa.float64()) for key in METRIC_KEYS if key != "coverage@10"],
                              ("top", pa.list_(pa.int64()))])
    ddl = "model string, users long, secs double, " + ", ".join(
        f"`{key}` double" for key in METRIC_KEYS if key != "coverage@10") + ", top array<long>"
    res = df.mapInArrow(run, ddl).persist()
    sums = {r["model"]: r for r in res.groupBy("model").agg(
        F.sum("users").alias("users"), F.sum("secs").alias("secs"),
        *[F.sum(f"`{key}`").alias(key) for key in METRIC_KEYS if key != "coverage@10"]).collect()}
    cov = {r["model"]: r["n"] for r in res.select("model", F.explode("top").alias("t")).distinct()
           .groupBy("model").agg(F.count(F.lit(1)).alias("n")).collect()}
    res.unpersist()
    out = {}
    for name in names:
        m = models[name]
        n_cand = int(m.candidate_mask().sum()) if hasattr(m, "candidate_mask") else n_tracks
        r = sums.get(name)
        users = int(r["users"]) if r is not None else 0
        row = {key: (float(r[key]) / users if users else float("nan")) for key in METRIC_KEYS if key != "coverage@10"}
        row["coverage@10"] = float(cov.get(name, 0)) / max(n_cand, 1)
        row["users"] = users
        row["recommend_s"] = float(r["secs"]) if r is not None else 0.0
        out[name] = {key: row[key] for key in (*METRIC_KEYS, "users", "recommend_s")}
    return out
