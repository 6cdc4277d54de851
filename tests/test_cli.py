"""The command line through typer's CliRunner: help with examples, the fast train/evaluate/recommend
loop on a small generated world, error paths (one line, exit 1, no traceback), and the demo (slow)."""

from __future__ import annotations

import json

import click
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from trackrec.cli import app

runner = CliRunner()
METRIC_KEYS = ("accuracy", "roc_auc", "ndcg@10", "recall@20", "map@10", "hitrate@10", "coverage@10")
BATCH_COLUMNS = ["user_id", "rank", "track_id", "score", "cold_start"]


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(res, *fragments: str):
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


# --- help ----------------------------------------------------------------------------------------

def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_core_commands_exist():
    names = {c[0] for c in COMMANDS}
    assert {"generate", "train", "evaluate", "recommend", "batch-recommend", "demo"} <= names


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    res = run(*command, "--help")
    assert res.exit_code == 0, res.output
    assert "Example" in res.output
    assert f"trackrec {command[-1]}" in res.output or len(command) > 1


def test_version():
    res = run("--version")
    assert res.exit_code == 0 and res.stdout.startswith("trackrec ")


# --- the fast loop on a small world ---------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """generate -> hold back the last days as newer.csv -> train --json (once for the module)."""
    root = tmp_path_factory.mktemp("cli")
    wd = root / "w"
    res = run("generate", "--workdir", wd, "--users", 60, "--tracks", 300, "--plays", 5000, "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["users"] == 60 and info["plays"] == 5000
    sessions = pd.read_csv(wd / "data" / "sessions.csv", dtype=str)
    t = pd.to_datetime(sessions["played_at"], utc=True)
    cut = t.quantile(0.85)
    sessions[t <= cut].to_csv(wd / "data" / "sessions.csv", index=False)
    sessions[t > cut].to_csv(root / "newer.csv", index=False)
    res = run("train", "--workdir", wd, "--json", "--quiet",
              "--strategies", "popularity,similarity,affinity-lr,affinity-lr-concat")
    assert res.exit_code == 0, res.output
    return {"root": root, "wd": wd, "train": json.loads(res.stdout), "newer": root / "newer.csv",
            "users": sessions.loc[t <= cut, "user_id"].unique().tolist()}


def test_train_json_metrics(workdir):
    m = workdir["train"]
    for key in METRIC_KEYS:
        assert isinstance(m[key], float), key
    assert m["baseline"]["strategy"] == "popularity" and isinstance(m["baseline"]["ndcg@10"], float)
    assert m["strategy"] == "affinity-lr"
    assert set(m["models"]) == {"popularity", "similarity", "affinity-lr", "affinity-lr-concat"}
    assert (workdir["wd"] / "models" / m["version"] / "manifest.json").exists()
    assert (workdir["wd"] / "models" / "CURRENT").read_text().strip() == m["version"]


def test_evaluate_json_prints_stored_metrics(workdir):
    res = run("evaluate", "--workdir", workdir["wd"], "--json")
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    for key in METRIC_KEYS:
        assert m[key] == workdir["train"][key], key
    assert m["baseline"]["ndcg@10"] == workdir["train"]["baseline"]["ndcg@10"]


def test_evaluate_on_newer_sessions(workdir):
    res = run("evaluate", "--workdir", workdir["wd"], "--sessions", workdir["newer"], "--json", "--quiet")
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    assert m["split"]["kind"] == "newer-than-cutoff" and m["split"]["test_pairs"] > 0
    assert m["ndcg@10"] != workdir["train"]["ndcg@10"]  # measured on other listens
    for key in METRIC_KEYS:
        assert key in m
    assert "ndcg@10" in m["baseline"]


def test_evaluate_on_sessions_before_the_cutoff_is_an_error(workdir):
    assert_one_line_error(run("evaluate", "--workdir", workdir["wd"], "--sessions",
                              workdir["wd"] / "data" / "sessions.csv", "--quiet"),
                          "no new listens after the model's data cutoff")


def test_recommend_json(workdir):
    user = workdir["users"][0]
    res = run("recommend", "--workdir", workdir["wd"], "--user", user, "-k", 7, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["user_id"] == user and out["strategy"] == "affinity-lr" and out["cold_start"] is False
    assert [i["rank"] for i in out["items"]] == list(range(1, 8))
    scores = [i["score"] for i in out["items"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert {"track_id", "title", "artist", "genre", "mood"} <= set(out["items"][0])


def test_recommend_table(workdir):
    res = run("recommend", "--workdir", workdir["wd"], "--user", workdir["users"][1], "--strategy", "similarity")
    assert res.exit_code == 0 and "similarity for user" in res.stdout


def test_recommend_unknown_user_is_cold_start(workdir):
    res = run("recommend", "--workdir", workdir["wd"], "--user", "nobody-at-all", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["cold_start"] is True and len(out["items"]) == 10
    res = run("recommend", "--workdir", workdir["wd"], "--user", "nobody-at-all")
    assert res.exit_code == 0 and "cold start" in res.stdout


def test_batch_recommend_parquet(workdir):
    out = workdir["root"] / "recs.parquet"
    res = run("batch-recommend", "--workdir", workdir["wd"], "--out", out, "-k", 4, "--json", "--quiet")
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    df = pd.read_parquet(out)
    assert list(df.columns) == BATCH_COLUMNS
    assert info["rows"] == len(df) == 4 * info["users"] and info["users"] == df["user_id"].nunique()
    assert df["user_id"].map(type).eq(str).all() and df["track_id"].map(type).eq(str).all()
    assert df["rank"].tolist()[:4] == [1, 2, 3, 4] and df["cold_start"].dtype == bool


def test_batch_recommend_csv_other_strategy(workdir):
    out = workdir["root"] / "recs.csv"
    res = run("batch-recommend", "--workdir", workdir["wd"], "--out", out, "--strategy", "popularity", "--quiet")
    assert res.exit_code == 0, res.output
    assert list(pd.read_csv(out).columns) == BATCH_COLUMNS


# --- error paths: one line, exit 1, no traceback ---------------------------------------------------

def test_missing_sessions_file(workdir, tmp_path):
    line = assert_one_line_error(run("train", "--workdir", tmp_path / "w", "--sessions", tmp_path / "missing.csv"),
                                 "missing.csv: file not found")
    assert line == f"error: {tmp_path / 'missing.csv'}: file not found"


def test_no_data_in_workdir(tmp_path):
    assert_one_line_error(run("train", "--workdir", tmp_path / "empty"), "no sessions file", "trackrec generate")


def test_no_model_in_workdir(tmp_path):
    assert_one_line_error(run("recommend", "--workdir", tmp_path / "empty", "--user", "u"),
                          "models/CURRENT is missing")


def test_on_bad_rows_error_with_a_bad_timestamp(workdir, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,track_id,played_at\nu1,t00001,2026-01-01T00:00:00Z\nu1,t00002,not-a-time\n")
    args = ("train", "--workdir", workdir["wd"], "--sessions", bad, "--quiet")
    assert_one_line_error(run(*args, "--on-bad-rows", "error"),
                          "bad.csv, line 3, column 'played_at': unparseable played_at", "'not-a-time'")
    assert_one_line_error(run(*args, "--on-bad-rows", "bogus"), "on_bad_rows must be one of")


def test_bad_out_extension(workdir):
    assert_one_line_error(run("batch-recommend", "--workdir", workdir["wd"], "--out", workdir["root"] / "recs.xlsx"),
                          "unsupported extension; use .parquet or .csv")


def test_unknown_strategy(workdir):
    assert_one_line_error(run("recommend", "--workdir", workdir["wd"], "--user", workdir["users"][0],
                              "--strategy", "bogus"),
                          "strategy 'bogus' is not in this model; available: popularity")
    assert_one_line_error(run("batch-recommend", "--workdir", workdir["wd"], "--out", workdir["root"] / "x.csv",
                              "--strategy", "bogus", "--quiet"), "strategy 'bogus'")
    assert_one_line_error(run("train", "--workdir", workdir["wd"], "--strategies", "popularity,bogus"),
                          "--strategies: unknown model 'bogus'")


def test_tampered_model_is_refused(workdir, tmp_path):
    import shutil
    v = workdir["train"]["version"]
    copy = shutil.copytree(workdir["wd"] / "models" / v, tmp_path / v)
    (copy / "manifest.json").write_text((copy / "manifest.json").read_text()[:100])
    assert_one_line_error(run("evaluate", "--model", copy, "--json"), "not valid JSON")


def test_generate_bad_format(tmp_path):
    assert_one_line_error(run("generate", "--workdir", tmp_path, "--format", "xml"),
                          "--format must be csv or parquet, got 'xml'")


# --- the demo: default world, once (slow) ------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("demo") / "w"
    res = run("demo", "--workdir", wd, "--quiet")
    assert res.exit_code == 0, res.output
    return wd, res


@pytest.mark.slow
def test_demo_prints_metrics_and_recommendations(demo_dir):
    wd, res = demo_dir
    assert "ndcg@10" in res.stdout and "affinity-lr" in res.stdout and "ROC AUC" in res.stdout
    assert "recommendations for user" in res.stdout
    assert (wd / "models" / "CURRENT").exists()


@pytest.mark.slow
def test_demo_model_is_usable_without_retraining(demo_dir):
    wd, _ = demo_dir
    res = run("evaluate", "--workdir", wd, "--json")
    assert res.exit_code == 0
    m = json.loads(res.stdout)
    assert m["ndcg@10"] >= 1.2 * m["baseline"]["ndcg@10"] and m["roc_auc"] > 0.7
    user = pd.read_csv(wd / "data" / "sessions.csv", usecols=["user_id"], dtype=str, nrows=1)["user_id"].iloc[0]
    res = run("recommend", "--workdir", wd, "--user", user, "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["cold_start"] is False
    out = wd / "outputs" / "recs.parquet"
    res = run("batch-recommend", "--workdir", wd, "--out", out, "--quiet")
    assert res.exit_code == 0 and list(pd.read_parquet(out).columns) == BATCH_COLUMNS
