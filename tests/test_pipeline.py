"""The train pipeline's early memory guard for the local engine."""

from __future__ import annotations

import os

import pytest

from trackrec.exceptions import TrainingError
from trackrec.pipeline import train


def test_local_engine_refuses_data_that_would_not_fit_and_points_to_spark(world, monkeypatch):
    catalog, sessions = world
    real = os.sysconf
    monkeypatch.setattr(os, "sysconf", lambda name: 1000 if name == "SC_PHYS_PAGES" else real(name))
    with pytest.raises(TrainingError, match=r"needs about \d+ GiB with the local engine, more than 0 GiB; "
                                            r"run it with --engine spark"):
        train(sessions, catalog, strategies=("popularity",))


def test_what_counts_as_a_positive_is_configurable_from_the_cli(tmp_path):
    import json

    from typer.testing import CliRunner

    from trackrec.cli import app
    runner = CliRunner()
    wd = str(tmp_path / "w")
    assert runner.invoke(app, ["generate", "--workdir", wd, "--users", "40", "--tracks", "200",
                               "--plays", "3000"]).exit_code == 0

    def positives(*extra):
        r = runner.invoke(app, ["train", "--workdir", wd, "--strategies", "popularity", "--json", "--quiet",
                                *extra])
        assert r.exit_code == 0, r.output
        m = json.loads(r.stdout)
        return int(m["models"]["popularity"]["users"]), m

    _, default = positives()
    _, lenient = positives("--min-ms-played", "0", "--skips-count")
    from trackrec.persistence import load_bundle
    b_default, b_lenient = load_bundle(default["model_path"]), load_bundle(lenient["model_path"])
    assert b_lenient.dataset.stats["positive_plays"] == 3000  # every play counts
    assert b_default.dataset.stats["positive_plays"] < 3000   # skips and short plays do not
    assert b_lenient.meta["skips_are_negative"] is False and b_lenient.meta["min_ms_played"] == 0
