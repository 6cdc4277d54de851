"""Shared fixtures: a tiny hand-built world for logic, a small generated world for pipelines.

The tiny world is small enough to check by hand (12 catalogue tracks, 6 users). Its ids include
``"007"`` and ``"7"`` (both as users and as tracks) to prove ids stay strings end to end.
The generated world and the bundle trained on it are session-scoped: every test that needs a
trained model shares one training run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trackrec.data.dataset import Dataset

# --- tiny hand-built world ---------------------------------------------------------------------

#: track_id, title, artist, genre, mood, tempo, energy
TINY_TRACKS = [
    ("007", "Licence", "The Spies", "rock", "energetic", 140.0, 0.90),
    ("7", "Seven", "The Spies", "rock", "dark", 150.0, 0.95),
    ("t03", "Amp", "Loud Co", "rock", "energetic", 130.0, 0.80),
    ("t04", "Sunny Riff", "Loud Co", "rock", "happy", 120.0, 0.70),
    ("t05", "Blue Hour", "Quiet Trio", "jazz", "calm", 90.0, 0.30),
    ("t06", "Brushes", "Quiet Trio", "jazz", "calm", 100.0, 0.35),
    ("t07", "Late Rain", "Quiet Trio", "jazz", "sad", 80.0, 0.25),
    ("t08", "Slow Dance", "Velvet", "jazz", "romantic", 95.0, 0.40),
    ("t09", "Bubblegum", "Popstar", "pop", "happy", 118.0, 0.65),
    ("t10", "Hands Up", "Popstar", "pop", "happy, energetic", 124.0, 0.75),  # multi-label mood
    ("t11", "Nocturne", "Old Master", "classical", "calm", 70.0, np.nan),  # missing energy
    ("t12", "Crossover", "Popstar", "Pop, Rock", None, np.nan, 0.60),  # multi-genre, no mood/tempo
]

#: The tracks each user plays (in order, one play per entry unless noted in TINY_EXTRA_PLAYS).
TINY_HISTORIES = {
    "007": ["007", "7", "t03", "007", "7"],            # rock fan (repeats)
    "7": ["t05", "t06", "t07", "t08", "t08"],          # jazz fan
    "alice": ["007", "t04", "t09", "t10"],             # rock + pop
    "bob": ["t05", "t07", "t11", "t06"],               # jazz + classical
    "carol": ["t09", "t10", "t12", "t04", "x99"],      # pop; x99 is not in the catalogue
    "dave": ["t03"],                                   # only a too-short play below: no positives
}


@pytest.fixture(scope="session")
def tiny_catalog() -> pd.DataFrame:
    """Twelve tracks with genre, mood, tempo, energy (some missing), ids like "007" and "7"."""
    return pd.DataFrame(TINY_TRACKS, columns=["track_id", "title", "artist", "genre", "mood", "tempo", "energy"])


def _tiny_sessions() -> pd.DataFrame:
    rows = []
    t0 = pd.Timestamp("2026-01-01T00:00:00Z")
    minute = 0
    for user, tracks in TINY_HISTORIES.items():
        for track in tracks:
            short = user == "dave"
            rows.append((user, track, t0 + pd.Timedelta(minutes=minute), 5_000.0 if short else 180_000.0, False))
            minute += 7
    # skipped plays: never positives, but "played" (never a sampled negative)
    rows.append(("007", "t09", t0 + pd.Timedelta(minutes=minute), 200_000.0, True))
    rows.append(("7", "t11", t0 + pd.Timedelta(minutes=minute + 1), 10_000.0, True))
    df = pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played", "skipped"])
    df["played_at"] = pd.to_datetime(df["played_at"], utc=True)
    df["weight"] = 1.0
    return df.astype({"user_id": object, "track_id": object})


@pytest.fixture()
def tiny_sessions() -> pd.DataFrame:
    """Canonical sessions frame (as :func:`trackrec.data.loaders.read_sessions` returns it).

    Function-scoped: tests may modify their copy.
    """
    return _tiny_sessions()


@pytest.fixture(scope="session")
def tiny_sessions_shared() -> pd.DataFrame:
    return _tiny_sessions()


@pytest.fixture(scope="session")
def tiny_dataset(tiny_sessions_shared, tiny_catalog) -> Dataset:
    return Dataset.from_frames(tiny_sessions_shared, tiny_catalog)


# --- small generated world + one shared training run -------------------------------------------

WORLD_SIZE = dict(n_users=80, n_tracks=400, n_plays=8000, random_state=0)


@pytest.fixture(scope="session")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(catalog, sessions) of a small generated world."""
    from trackrec.data.generate import generate_world
    return generate_world(**WORLD_SIZE)


#: The strategies of the core issue; the quality models (ease, ials, affinity-ranker) are covered by
#: the contract tests and would triple the shared training time.
CORE_STRATEGIES = ("popularity", "similarity", "affinity-lr", "affinity-lr-concat")


@pytest.fixture(scope="session")
def trained_bundle(world):
    """The core strategies trained (evaluated on later listens, then refitted) on ``world``."""
    from trackrec.pipeline import train
    catalog, sessions = world
    return train(sessions, catalog, strategies=CORE_STRATEGIES, random_state=0)


@pytest.fixture(scope="session")
def saved_bundle_dir(trained_bundle, tmp_path_factory):
    """``trained_bundle`` saved once (read-only for tests: copy before tampering)."""
    from trackrec.persistence import save_bundle
    return save_bundle(trained_bundle, tmp_path_factory.mktemp("model") / "v1")
