"""`trackrec benchmark` on small generic files: JSON contract, files written, errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from trackrec.cli import app

runner = CliRunner()
KEYS = ("ndcg@10", "recall@20", "map@10", "hitrate@10", "coverage@10", "fit_s", "recommend_s", "peak_mb")


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """A generic event file with no header, tab separated, columns in an unusual order."""
    from trackrec.data.generate import generate_world
    catalog, sessions = generate_world(n_users=80, n_tracks=300, n_plays=6000, random_state=3)
    d = tmp_path_factory.mktemp("bench")
    p = d / "u.data"
    out = sessions.assign(played_at=(sessions["played_at"].astype("int64") // 10**9))
    out[["track_id", "user_id", "ms_played", "played_at"]].to_csv(p, sep="\t", header=False, index=False)
    catalog.to_csv(d / "catalog.csv", index=False)
    return d


def test_benchmark_generic_file_json_and_outputs(events, tmp_path):
    res = runner.invoke(app, ["benchmark", "--sessions", str(events / "u.data"), "--sep", "\\t", "--no-header",
                              "--columns", "track_id,user_id,_,played_at", "--seeds", "2",
                              "--models", "popularity,ease,ials,affinity-ranker,similarity",
                              "--out", str(tmp_path / "b"), "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["seeds"] == 2 and r["dataset"] == "u.data"
    assert set(r["models"]) == {"popularity", "ease", "ials", "affinity-ranker"}
    assert "needs a track catalogue" in r["skipped"]["similarity"]
    for m in r["models"].values():
        for k in KEYS:
            assert isinstance(m[k], float) and isinstance(m[k + "_std"], float)
    assert r["models"]["ease"]["ndcg@10"] > r["models"]["popularity"]["ndcg@10"]
    assert r["split"]["kind"] == "per-user-time"
    for f in ("results.md", "results.json", "ndcg.png", "quality_vs_time.png"):
        assert (tmp_path / "b" / f).stat().st_size > 0
    md = (tmp_path / "b" / "results.md").read_text()
    assert "| `affinity-ranker`" in md and "±" in md


def test_benchmark_with_catalogue_runs_content_models(events):
    res = runner.invoke(app, ["benchmark", "--sessions", str(events / "u.data"), "--sep", "\t", "--no-header",
                              "--columns", "track_id,user_id,_,played_at", "--catalog", str(events / "catalog.csv"),
                              "--seeds", "1", "--models", "popularity,affinity-lr", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "| `affinity-lr`" in res.stdout and "| `popularity`" in res.stdout


@pytest.mark.parametrize("args, message", [
    (["--dataset", "movielens"], "unknown dataset 'movielens'"),
    (["--dataset", "lastfm-hetrec2011"], "--dataset needs --data-dir"),
    ([], "pass --dataset NAME --data-dir PATH, or --sessions FILE"),
    (["--sessions", "nope.csv"], "nope.csv: file not found"),
    (["--sessions", "u.data", "--models", "foo"], "unknown model 'foo'"),
    (["--sessions", "u.data", "--no-header"], "--no-header needs --columns"),
    (["--sessions", "u.data", "--sep", "\t", "--no-header", "--columns", "user_id,track_id"],
     "--columns names 2 column(s) but the file has 4"),
    (["--sessions", "u.data", "--no-header", "--columns", "user_id,track_id,_,played_at"],
     "--columns names 4 column(s) but the file has 1 (separator ','?)"),
    (["--sessions", "u.data", "--sep", "\t", "--no-header", "--columns", "a,b,c,d"], "missing required column 'user_id'"),
])
def test_benchmark_errors_are_one_line(events, monkeypatch, args, message):
    monkeypatch.chdir(events)
    res = runner.invoke(app, ["benchmark", *args, "--quiet"])
    assert res.exit_code == 1
    assert message in res.output and "Traceback" not in res.output
    assert res.output.strip().count("\n") == 0 or res.output.strip().startswith("error:")


def test_tune_searches_on_a_validation_split_and_reports_params(events):
    res = runner.invoke(app, ["benchmark", "--sessions", str(events / "u.data"), "--sep", "\t", "--no-header",
                              "--columns", "track_id,user_id,_,played_at", "--seeds", "1", "--tune", "2",
                              "--models", "ease,ials", "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    (ease_params,) = r["models"]["ease"]["params"]
    assert set(ease_params) == {"l2"} and 10.0 <= ease_params["l2"] <= 3000.0
    (ials_params,) = r["models"]["ials"]["params"]
    assert {"factors", "regularization", "alpha"} <= set(ials_params)
