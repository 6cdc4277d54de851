"""Tests of the synthetic world generator (small sizes, fast)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trackrec.data.generate import GENRES, MOODS, generate_world, write_world

CATALOG_COLUMNS = ["track_id", "title", "artist", "album", "genre", "mood", "tempo", "energy", "valence",
                   "danceability", "acousticness", "duration_ms", "explicit", "year"]
SESSION_COLUMNS = ["user_id", "track_id", "played_at", "ms_played", "skipped"]
SIZE = {"n_users": 80, "n_tracks": 2000, "n_plays": 12_000, "days": 40, "random_state": 7}


@pytest.fixture(scope="module")
def world():
    return generate_world(**SIZE)


@pytest.fixture(scope="module")
def plays(world):
    """Sessions with the track's genre and each play's position in its user's history."""
    catalog, sessions = world
    df = sessions.merge(catalog[["track_id", "genre"]], on="track_id", how="left", validate="many_to_one")
    df = df.sort_values(["user_id", "played_at"], kind="stable").reset_index(drop=True)
    df["pos"] = df.groupby("user_id").cumcount()
    df["n"] = df.groupby("user_id")["user_id"].transform("size")
    return df


def _is_str(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series) and series.map(lambda v: isinstance(v, str)).all()


def test_shapes_columns_and_dtypes(world):
    catalog, sessions = world
    assert list(catalog.columns) == CATALOG_COLUMNS
    assert list(sessions.columns) == SESSION_COLUMNS
    assert len(catalog) == SIZE["n_tracks"] and len(sessions) == SIZE["n_plays"]
    for col in ("track_id", "title", "artist", "album", "genre"):
        assert _is_str(catalog[col]), col
    assert _is_str(sessions["user_id"]) and _is_str(sessions["track_id"])
    assert catalog["track_id"].str.fullmatch(r"t\d{5}").all() and catalog["track_id"].is_unique
    assert sessions["user_id"].str.fullmatch(r"u\d{4}").all()
    for col in ("tempo", "energy", "valence", "danceability", "acousticness"):
        assert pd.api.types.is_float_dtype(catalog[col]), col
    assert pd.api.types.is_integer_dtype(catalog["duration_ms"]) and pd.api.types.is_integer_dtype(catalog["year"])
    assert pd.api.types.is_bool_dtype(catalog["explicit"])
    assert isinstance(sessions["played_at"].dtype, pd.DatetimeTZDtype) and str(sessions["played_at"].dt.tz) == "UTC"
    assert pd.api.types.is_integer_dtype(sessions["ms_played"]) and pd.api.types.is_bool_dtype(sessions["skipped"])


def test_catalog_values_are_plausible(world):
    catalog, _ = world
    assert set(catalog["genre"]) <= set(GENRES) and catalog["genre"].nunique() >= 10
    assert set(catalog["mood"].dropna()) <= set(MOODS)
    for col in ("energy", "valence", "danceability", "acousticness"):
        assert catalog[col].between(0, 1).all(), col
    assert catalog["tempo"].dropna().between(60, 200).all()
    assert catalog["duration_ms"].between(120_000, 420_000).all()
    assert catalog["year"].between(1970, 2025).all()
    assert 0 < catalog["explicit"].mean() < 0.5
    # ~1 % missing mood and tempo
    for col in ("mood", "tempo"):
        assert 0 < catalog[col].isna().sum() <= 0.04 * len(catalog), col
    # ~n_tracks / 8 artists, each mostly in one genre
    assert abs(catalog["artist"].nunique() - SIZE["n_tracks"] / 8) <= 5
    home_share = catalog.groupby("artist")["genre"].agg(lambda s: s.value_counts().iloc[0] / len(s))
    assert home_share.mean() > 0.8
    # genre drives features: metal is louder than classical
    energy = catalog.groupby("genre")["energy"].mean()
    assert energy["metal"] > energy["classical"] + 0.3


def test_deterministic(world):
    catalog, sessions = world
    catalog2, sessions2 = generate_world(**SIZE)
    pd.testing.assert_frame_equal(catalog, catalog2)
    pd.testing.assert_frame_equal(sessions, sessions2)
    other = generate_world(**{**SIZE, "random_state": SIZE["random_state"] + 1})[1]
    assert not sessions["track_id"].equals(other["track_id"])


def test_sessions_reference_catalog_and_are_sorted(world):
    catalog, sessions = world
    assert sessions["track_id"].isin(set(catalog["track_id"])).all()
    assert sessions["played_at"].is_monotonic_increasing
    assert sessions.notna().all().all()
    start = pd.Timestamp("2026-01-01T00:00:00Z")
    assert sessions["played_at"].min() >= start
    assert sessions["played_at"].max() < start + pd.Timedelta(days=SIZE["days"] + 1)
    # spread over the period, not bunched at its start
    assert (sessions["played_at"] > start + pd.Timedelta(days=SIZE["days"] * 0.75)).mean() > 0.15


def test_every_user_has_at_least_20_plays_and_activity_is_long_tailed(world):
    _, sessions = world
    counts = sessions["user_id"].value_counts()
    assert len(counts) == SIZE["n_users"]
    assert counts.min() >= 20
    assert counts.max() > 3 * counts.median()


def test_skips_and_ms_played(world):
    catalog, sessions = world
    skipped = sessions[sessions["skipped"]]
    played = sessions[~sessions["skipped"]]
    assert skipped["ms_played"].between(2_000, 29_999).all()
    assert (played["ms_played"] >= 30_000).all()
    duration = played["track_id"].map(catalog.set_index("track_id")["duration_ms"])
    assert (played["ms_played"] <= duration).all()
    assert ((played["ms_played"] / duration) >= 0.6).mean() > 0.8
    assert 0.05 < sessions["skipped"].mean() < 0.4


def test_popularity_is_long_tailed(world):
    catalog, sessions = world
    counts = np.sort(sessions["track_id"].value_counts().reindex(catalog["track_id"], fill_value=0).to_numpy())[::-1]
    n = len(counts)
    top10, bottom50 = counts[: n // 10].sum(), counts[n // 2:].sum()
    assert top10 > 2.5 * bottom50


def test_repeat_plays_are_common(plays):
    repeat = plays.duplicated(["user_id", "track_id"]).mean()
    assert 0.25 < repeat < 0.6


def test_later_plays_follow_earlier_taste(plays):
    first = plays["pos"] < plays["n"] // 2
    top = plays.groupby(["user_id", first])["genre"].agg(lambda s: s.value_counts().idxmax()).unstack()
    assert (top[True] == top[False]).mean() > 0.6
    # most users concentrate on a few genres
    top3 = plays.groupby("user_id")["genre"].agg(lambda s: s.value_counts(normalize=True).iloc[:3].sum())
    assert top3.median() > 0.7


def test_poor_taste_matches_are_skipped_more(plays):
    fav = plays.groupby("user_id")["genre"].agg(lambda s: s.value_counts().idxmax())
    in_fav = plays["genre"].to_numpy() == plays["user_id"].map(fav).to_numpy()
    assert plays.loc[~in_fav, "skipped"].mean() > plays.loc[in_fav, "skipped"].mean() + 0.05


def test_rejects_too_few_plays():
    with pytest.raises(ValueError, match="n_plays"):
        generate_world(n_users=10, n_tracks=50, n_plays=199)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_world_round_trip(tmp_path, world, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    catalog, sessions = world
    cat_path, ses_path = write_world(tmp_path / "out", catalog, sessions, fmt=fmt)
    assert cat_path == tmp_path / "out" / f"catalog.{fmt}" and ses_path == tmp_path / "out" / f"sessions.{fmt}"
    if fmt == "csv":
        first = ses_path.read_text().splitlines()[1]
        assert first.split(",")[2].endswith("Z")
        back = pd.read_csv(ses_path, dtype={"user_id": str, "track_id": str})
        back["played_at"] = pd.to_datetime(back["played_at"], utc=True)
        cat_back = pd.read_csv(cat_path, dtype={"track_id": str})
    else:
        back, cat_back = pd.read_parquet(ses_path), pd.read_parquet(cat_path)
    assert len(back) == len(sessions) and len(cat_back) == len(catalog)
    assert back["track_id"].tolist() == sessions["track_id"].tolist()
    assert (back["played_at"].to_numpy() == sessions["played_at"].to_numpy()).all()
    assert cat_back["track_id"].tolist() == catalog["track_id"].tolist()
    assert cat_back["mood"].isna().sum() == catalog["mood"].isna().sum()


def test_write_world_rejects_unknown_format(tmp_path, world):
    with pytest.raises(ValueError, match="fmt"):
        write_world(tmp_path, *world, fmt="xlsx")
