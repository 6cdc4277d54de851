"""``trackrec init``, ``token``, ``serve`` error paths, and ``load_frames``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from trackrec.cli import app

runner = CliRunner()


def test_commands_registered_with_examples():
    for name in ("init", "serve", "token"):
        r = runner.invoke(app, [name, "--help"])
        assert r.exit_code == 0 and "--workdir" in r.output
    from trackrec.service import commands
    for f in (commands.init, commands.serve, commands.token):
        assert "Example:" in f.__doc__


def test_token_command(fresh_workdir):
    from trackrec.service.store import Store, store_path
    r = runner.invoke(app, ["token", "cli-user", "--workdir", str(fresh_workdir)])
    assert r.exit_code == 0
    tok = r.stdout.strip()
    assert Store(store_path(fresh_workdir)).user_for_token(tok) == "cli-user"
    r = runner.invoke(app, ["token", "bad user!", "--workdir", str(fresh_workdir)])
    assert r.exit_code == 1 and "not a valid user id" in r.output and "Traceback" not in r.output


def test_errors_are_one_line(tmp_path):
    for args in (["token", "u1", "--workdir", str(tmp_path)], ["serve", "--workdir", str(tmp_path)]):
        r = runner.invoke(app, args)
        assert r.exit_code == 1
        assert "no store here; run 'trackrec init" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["init", "--workdir", str(tmp_path), "--catalog", str(tmp_path / "c.csv")])
    assert r.exit_code == 1 and "pass both --catalog and --sessions" in r.output


@pytest.mark.slow
def test_init_from_files_and_refuses_to_overwrite(tmp_path, svc_world, monkeypatch):
    from trackrec.data.generate import write_world
    from trackrec.service.store import load_frames
    catalog, sessions = svc_world
    c, s = write_world(tmp_path / "in", catalog, sessions)
    wd = tmp_path / "w"
    monkeypatch.setenv("TRACKREC_ADMIN_KEY", "from-env-key-123")
    r = runner.invoke(app, ["init", "--workdir", str(wd), "--catalog", str(c), "--sessions", str(s), "-q",
                            "--demo-users", "2"])
    assert r.exit_code == 0, r.output
    assert "admin API key: taken from TRACKREC_ADMIN_KEY" in r.stdout and "from-env-key-123" not in r.stdout
    assert r.stdout.count("token for user") == 2 and (wd / "store.db").exists() and (wd / "models" / "CURRENT").exists()
    sess, cat = load_frames(wd)
    assert len(sess) == len(sessions) and len(cat) == len(catalog)
    assert list(sess.columns) == ["user_id", "track_id", "played_at", "ms_played", "skipped", "weight"]
    assert str(sess["played_at"].dt.tz) == "UTC"
    assert (sess["played_at"].to_numpy() == sessions["played_at"].to_numpy()).all()
    assert sess["skipped"].tolist() == sessions["skipped"].tolist()
    assert cat["tempo"].dtype == float and cat["explicit"].dtype == bool
    assert cat["mood"].isna().sum() == catalog["mood"].isna().sum()
    r = runner.invoke(app, ["init", "--workdir", str(wd), "--catalog", str(c), "--sessions", str(s), "-q"])
    assert r.exit_code == 1 and "already exists; use --force" in r.output


def test_load_frames_without_store(tmp_path):
    from trackrec.service.store import load_frames
    assert load_frames(tmp_path) is None


def test_load_frames_trains(base_workdir):
    from trackrec.data.dataset import Dataset
    from trackrec.service.store import load_frames
    sess, cat = load_frames(base_workdir[0])
    ds = Dataset.from_frames(sess, cat)
    assert ds.n_users >= 60 and ds.has_content.sum() == len(cat)


def test_train_command_trains_from_the_store(fresh_workdir):
    """`trackrec train` in a workdir with a store trains on the store's listens (new ones too)."""
    import json

    from trackrec.persistence import Workdir
    from trackrec.service.store import Store, store_path

    store = Store(store_path(fresh_workdir))
    try:
        n_before = len(store.frames()[0])
    finally:
        store.close()
    before = Workdir(fresh_workdir).current_version()
    r = runner.invoke(app, ["train", "--workdir", str(fresh_workdir), "--strategies", "popularity,affinity-lr",
                            "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert Workdir(fresh_workdir).current_version() == m["version"] != before
    assert m["models"]["affinity-lr"]["roc_auc"] > 0.5
    from trackrec.persistence import load_bundle
    b = load_bundle(m["model_path"])
    assert int(b.dataset.stats["plays"]) == n_before
