"""The Spark engine against the local one: same inputs, same contracts, same figures.

One local-mode SparkSession (``local[2]``, bound to 127.0.0.1, no UI, scratch under a temp dir)
serves the whole module; one Spark training run and one local training run on a small
generated world are shared by the parity tests. Everything touching Spark is marked ``slow``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trackrec.data.generate import generate_world, write_world
from trackrec.exceptions import DataError

pytest.importorskip("pyspark")

WORLD = dict(n_users=200, n_tracks=1000, n_plays=20_000, random_state=0)


# --- settings and the memory guard: no Spark needed ------------------------------------------

def test_settings_merge_file_and_options(tmp_path):
    from trackrec.engines.spark.session import spark_settings
    cfg = tmp_path / "spark.toml"
    cfg.write_text('master = "local[3]"\nmax_lr_pairs = 5000\n[spark]\n"executor.memory" = "2g"\n')
    s = spark_settings(master=None, conf=["spark.sql.shuffle.partitions=3"], config_file=cfg, workdir=tmp_path)
    assert s["master"] == "local[3]"
    assert s["conf"]["spark.sql.shuffle.partitions"] == "3"
    assert s["conf"]["spark.executor.memory"] == "2g"
    assert s["conf"]["spark.ui.enabled"] == "false"
    assert s["conf"]["spark.driver.bindAddress"] == "127.0.0.1"
    assert s["conf"]["spark.local.dir"].startswith(str(tmp_path.absolute()))
    assert s["options"] == {"max_lr_pairs": 5000}
    assert spark_settings(master="spark://h:7077", conf=[], config_file=None, workdir=tmp_path)["master"] == "spark://h:7077"


def test_settings_reject_bad_conf(tmp_path):
    from trackrec.engines.spark.session import SparkEngineError, spark_settings
    with pytest.raises(SparkEngineError, match="expected KEY=VALUE"):
        spark_settings(master=None, conf=["spark.executor.memory"], config_file=None, workdir=tmp_path)
    with pytest.raises(SparkEngineError, match="config file not found"):
        spark_settings(master=None, conf=[], config_file=tmp_path / "nope.toml", workdir=tmp_path)


def test_memory_estimate_points_to_spark():
    from trackrec.engines.spark import estimate_local_memory
    from trackrec.engines.spark.memory import check_local_memory
    from trackrec.exceptions import TrainingError
    assert estimate_local_memory(600, 3000, 120_000) < 2 ** 30
    assert estimate_local_memory(200_000, 50_000, 20_000_000) > estimate_local_memory(20_000, 20_000, 1_000_000)
    check_local_memory(600, 3000, 120_000)
    with pytest.raises(TrainingError, match="--engine spark"):
        check_local_memory(2_000_000, 500_000, 500_000_000)


# --- Spark fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spark_env(tmp_path_factory):
    from trackrec.engines.spark import cli_bridge
    from trackrec.engines.spark.session import get_session, stop_session
    root = tmp_path_factory.mktemp("spark")
    settings = cli_bridge.spark_settings(master="local[2]", conf=["spark.sql.shuffle.partitions=4",
                                                                  "spark.default.parallelism=4"],
                                         config_file=None, workdir=root)
    spark = get_session(settings)
    yield spark, settings, root
    stop_session()


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("world")
    catalog, sessions = generate_world(**WORLD)
    write_world(wd / "data", catalog, sessions)
    return wd, catalog, sessions


@pytest.fixture(scope="module")
def spark_train(spark_env, world_dir):
    from trackrec.engines.spark import cli_bridge
    _, settings, _ = spark_env
    wd, _, _ = world_dir
    return cli_bridge.run("train", dict(workdir=wd, sessions=None, catalog=None, strategies=None, refit=True,
                                        seed=0, on_bad_rows="skip"), settings=settings, quiet=True)


@pytest.fixture(scope="module")
def local_train(world_dir):
    from trackrec.data.loaders import read_catalog, read_sessions
    from trackrec.pipeline import train
    wd, _, _ = world_dir
    sessions, _ = read_sessions(wd / "data" / "sessions.csv")
    catalog, _ = read_catalog(wd / "data" / "catalog.csv")
    return train(sessions, catalog, random_state=0), sessions, catalog


# --- reading: the local loaders' rules and messages ---------------------------------------------

SESSIONS_CSV = """user_id,track_id,played_at,ms_played,skipped
007,7,2026-01-01T10:00:00Z,40000,false
7,007,2026-01-01T12:00:00+02:00,40000,0
7,t3,1767225600,,true
007,t3,1767225600000,5000,False
u1,t3,yesterday,40000,false
u1,t3,2026-01-02 08:00:00,abc,false
u2,t4,2026-01-04,40000,maybe
u2,t4,2026-01-03,40000,false
u2,t4,2026-01-03,40000,false
"""


@pytest.mark.slow
def test_read_sessions_matches_local(spark_env, tmp_path):
    from trackrec.data.loaders import read_sessions
    from trackrec.engines.spark.io import read_sessions_spark
    spark, _, _ = spark_env
    p = tmp_path / "sessions.csv"
    p.write_text(SESSIONS_CSV)
    local, lrep = read_sessions(p)
    sdf, srep = read_sessions_spark(spark, p)
    got = sdf.toPandas()
    assert got[["user_id", "track_id"]].map(type).eq(str).all().all()
    key = ["user_id", "track_id", "played_at"]
    got["played_at"] = pd.to_datetime(got["played_at"]).dt.tz_localize("UTC") \
        if got["played_at"].dt.tz is None else got["played_at"].dt.tz_convert("UTC")
    a = local.sort_values(key).reset_index(drop=True)
    b = got.sort_values(key).reset_index(drop=True)[a.columns]
    assert a[["user_id", "track_id"]].equals(b[["user_id", "track_id"]])
    assert (a["played_at"].dt.as_unit("us") == b["played_at"].dt.as_unit("us")).all()
    assert np.allclose(a["ms_played"].fillna(-1), b["ms_played"].fillna(-1))
    assert (a["skipped"].to_numpy() == b["skipped"].to_numpy()).all()
    assert srep.problems == lrep.problems
    assert srep.rows_read == lrep.rows_read and srep.rows_kept == lrep.rows_kept
    # examples carry the same line numbers for a single file
    assert srep.examples[next(iter(lrep.examples))] == lrep.examples[next(iter(lrep.examples))]


@pytest.mark.slow
def test_bad_input_messages_match_local(spark_env, tmp_path):
    from trackrec.data.loaders import read_catalog, read_sessions
    from trackrec.engines.spark.io import read_catalog_spark, read_sessions_spark
    spark, _, _ = spark_env

    def same(local_call, spark_call):
        with pytest.raises(DataError) as le:
            local_call()
        with pytest.raises(DataError) as se:
            spark_call()
        assert str(se.value) == str(le.value)
        assert "\n" not in str(se.value)
        return str(se.value)

    missing = tmp_path / "nope.csv"
    same(lambda: read_sessions(missing), lambda: read_sessions_spark(spark, missing))
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("user,track_id,played_at\na,b,2026-01-01\n")
    msg = same(lambda: read_sessions(nocol), lambda: read_sessions_spark(spark, nocol))
    assert "missing required column 'user_id'" in msg
    bad = tmp_path / "bad.csv"
    bad.write_text(SESSIONS_CSV)
    msg = same(lambda: read_sessions(bad, on_bad_rows="error"),
               lambda: read_sessions_spark(spark, bad, on_bad_rows="error"))
    assert "line 6" in msg and "played_at" in msg and "'yesterday'" in msg
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    same(lambda: read_sessions(empty), lambda: read_sessions_spark(spark, empty))
    cat = tmp_path / "cat.csv"
    cat.write_text("id,genre\nt1,rock\n")
    same(lambda: read_catalog(cat), lambda: read_catalog_spark(spark, cat))


@pytest.mark.slow
def test_unreadable_path_is_one_line_not_a_jvm_trace(spark_env):
    from trackrec.engines.spark.io import read_sessions_spark
    spark, _, _ = spark_env
    with pytest.raises(DataError) as e:
        read_sessions_spark(spark, "file:///definitely/not/here/sessions.parquet")
    assert "\n" not in str(e.value) and "at org.apache" not in str(e.value)


# --- parity with the local engine ---------------------------------------------------------------

@pytest.mark.slow
def test_parity_positive_pairs_and_metrics(spark_train, local_train):
    from trackrec.data.dataset import Dataset
    from trackrec.evaluation.split import split_sessions
    from trackrec.features.profiles import history_weights
    bundle, sessions, catalog = local_train
    train_s, _, _ = split_sessions(sessions, random_state=0)
    eval_ds = Dataset.from_frames(train_s, catalog)
    w = history_weights(eval_ds.positives, eval_ds.has_content)
    w.eliminate_zeros()
    assert spark_train["spark"]["n_positive_pairs"] == w.nnz
    loc, spk = bundle.metrics, spark_train
    assert spk["split"]["test_pairs"] == loc["split"]["test_pairs"]
    assert spk["split"]["train_plays"] == loc["split"]["train_plays"]
    assert abs(spk["roc_auc"] - loc["roc_auc"]) < 0.01
    assert abs(spk["ndcg@10"] - loc["ndcg@10"]) < 0.01
    # deterministic models rank identically
    for name in ("popularity", "similarity"):
        for key in ("ndcg@10", "recall@20", "map@10", "hitrate@10", "coverage@10"):
            assert spk["models"][name][key] == pytest.approx(loc["models"][name][key], abs=1e-9), (name, key)
    assert spk["baseline"]["ndcg@10"] == pytest.approx(loc["baseline"]["ndcg@10"], abs=1e-9)
    assert spk["ndcg@10"] > 1.3 * spk["baseline"]["ndcg@10"]


@pytest.mark.slow
def test_metric_keys_match_local(spark_train, local_train):
    bundle = local_train[0]
    for key in ("accuracy", "roc_auc", "ndcg@10", "recall@20", "map@10", "hitrate@10", "coverage@10",
                "baseline", "models", "version", "model_path", "summary"):
        assert key in spark_train, key
    from trackrec.engines.spark.pipeline import SPARK_STRATEGIES
    assert set(bundle.metrics["models"]) & set(SPARK_STRATEGIES) <= set(spark_train["models"])
    assert "ials" in spark_train["models"]
    json.dumps({k: v for k, v in spark_train.items()}, default=str)


@pytest.mark.slow
def test_negative_sampling_never_draws_a_played_track(spark_env, world_dir):
    from pyspark.sql import functions as F

    from trackrec.engines.spark.io import read_sessions_spark
    from trackrec.engines.spark.prepare import (count_positive_pairs, index_plays, interactions, pair_frame,
                                                user_histories)
    spark, _, root = spark_env
    wd, catalog, _ = world_dir
    sessions, _ = read_sessions_spark(spark, wd / "data" / "sessions.csv")
    idx = index_plays(spark, sessions, catalog, min_ms_played=30_000, tmpdir=str(root))
    inter = interactions(idx.plays).cache()
    has = np.arange(len(idx.tracks)) < idx.n_catalog
    emb = np.random.default_rng(0).normal(size=(len(idx.tracks), 5)).astype(np.float32)
    pairs, width = pair_frame(spark, user_histories(inter), emb, has, negatives_per_positive=4, random_state=3)
    pairs = pairs.cache()
    n_pos = count_positive_pairs(inter, idx.n_catalog)
    counts = {r["label"]: r["count"] for r in pairs.groupBy("label").count().collect()}
    assert counts[1.0] == n_pos
    assert counts[0.0] == 4 * n_pos
    negs = pairs.filter("label = 0").select("u", "t")
    assert negs.join(inter.select("u", "t"), ["u", "t"]).count() == 0      # never a played track
    assert negs.filter(F.col("t") >= idx.n_catalog).count() == 0           # always a catalogue track
    assert len(pairs.first()["features"]) == width == 16
    again = pair_frame(spark, user_histories(inter), emb, has, negatives_per_positive=4, random_state=3)[0]
    assert sorted(map(tuple, again.filter("label = 0").select("u", "t").collect())) == \
        sorted(map(tuple, negs.collect()))                                  # seeded


# --- one model format -------------------------------------------------------------------------

@pytest.mark.slow
def test_spark_model_serves_through_recommend_and_evaluate(spark_train, world_dir):
    from typer.testing import CliRunner

    from trackrec.cli import app
    from trackrec.persistence import load_bundle
    wd, _, sessions = world_dir
    bundle = load_bundle(spark_train["model_path"])
    assert {"popularity", "similarity", "affinity-lr", "affinity-lr-concat"} <= set(bundle.strategies)
    assert bundle.default_strategy == "affinity-lr"
    assert bundle.dataset.n_users == sessions["user_id"].nunique()
    runner = CliRunner()
    user = str(bundle.dataset.users.external_ids[0])
    r = runner.invoke(app, ["recommend", "--workdir", str(wd), "--user", user, "-k", "5", "--json"])
    assert r.exit_code == 0, r.output
    items = json.loads(r.stdout)["items"]
    assert len(items) == 5 and all(0 <= it["score"] <= 1 for it in items)
    listened = set(bundle.history(user))
    assert not listened & {it["track_id"] for it in items}
    r = runner.invoke(app, ["evaluate", "--workdir", str(wd), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ndcg@10"] == pytest.approx(spark_train["ndcg@10"])
    # two users with different histories get different lists
    a, b = bundle.recommend(list(bundle.dataset.users.external_ids[:2]), 10)
    assert list(a.track_ids) != list(b.track_ids)


@pytest.mark.slow
def test_batch_recommend_matches_local_batch(spark_env, spark_train, world_dir):
    from trackrec.engines.spark import cli_bridge
    from trackrec.persistence import load_bundle
    _, settings, _ = spark_env
    wd, _, _ = world_dir
    out = wd / "outputs" / "recs.parquet"
    info = cli_bridge.run("batch-recommend", dict(workdir=wd, model=None, out=out, k=10, strategy=None),
                          settings=settings, quiet=True)
    assert out.is_dir()
    got = pd.read_parquet(out)
    assert list(got.columns) == ["user_id", "rank", "track_id", "score", "cold_start"]
    bundle = load_bundle(spark_train["model_path"])
    want = bundle.model().recommend_all(10)
    assert info["rows"] == len(got) == len(want)
    key = ["user_id", "rank"]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    assert (got["track_id"] == want["track_id"]).mean() > 0.999  # float32 ties may swap
    assert np.allclose(got["score"], want["score"], atol=1e-5)
    assert (got["cold_start"] == want["cold_start"]).all()


@pytest.mark.slow
def test_evaluate_on_newer_sessions_matches_local(spark_env, world_dir, tmp_path):
    from trackrec.engines.spark import cli_bridge
    from trackrec.persistence import Workdir, load_bundle
    from trackrec.pipeline import evaluate_bundle_on_sessions, train
    _, settings, _ = spark_env
    _, catalog, sessions = world_dir
    cut = sessions["played_at"].quantile(0.8)
    old, new = sessions[sessions["played_at"] <= cut], sessions[sessions["played_at"] > cut]
    wd = Workdir(tmp_path / "w").ensure()
    bundle = train(old, catalog, strategies=["popularity", "similarity", "affinity-lr"], random_state=0)
    wd.publish(bundle)
    newer = tmp_path / "newer.csv"
    write_world(tmp_path / "x", catalog, new)
    (tmp_path / "x" / "sessions.csv").rename(newer)
    want = evaluate_bundle_on_sessions(load_bundle(wd.current_model_path()), new)
    got = cli_bridge.run("evaluate", dict(workdir=wd.root, model=None, sessions=newer, on_bad_rows="skip"),
                         settings=settings, quiet=True)
    assert got["split"]["test_pairs"] == want["split"]["test_pairs"]
    for name in want["models"]:
        for key in ("ndcg@10", "recall@20", "map@10", "hitrate@10", "coverage@10"):
            assert got["models"][name][key] == pytest.approx(want["models"][name][key], abs=1e-6), (name, key)
