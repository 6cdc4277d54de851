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
