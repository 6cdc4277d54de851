"""Dataset: what a positive is, catalogue alignment, histories."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trackrec.data.dataset import Dataset, positive_mask


def _s(rows):
    df = pd.DataFrame(rows, columns=["user_id", "track_id", "ms_played", "skipped"])
    df["played_at"] = pd.Timestamp("2026-01-01T00:00:00Z") + pd.to_timedelta(np.arange(len(df)), unit="min")
    return df


def test_positive_is_30s_and_not_skipped():
    s = _s([("u", "a", 30_000, False), ("u", "b", 29_999, False), ("u", "c", 200_000, True),
            ("u", "d", np.nan, False), ("u", "e", np.nan, True)])
    assert positive_mask(s).tolist() == [True, False, False, True, False]


def test_positive_definition_is_configurable():
    s = _s([("u", "a", 10_000, False), ("u", "b", 200_000, True)])
    assert positive_mask(s, min_ms_played=5_000).tolist() == [True, False]
    assert positive_mask(s, skips_are_negative=False).tolist() == [False, True]
    ds = Dataset.from_frames(s, min_ms_played=5_000)
    assert ds.positives.nnz == 1
    assert Dataset.from_frames(s, skips_are_negative=False).positives.nnz == 1


def test_positive_mask_without_optional_columns():
    s = pd.DataFrame({"user_id": ["u", "u"], "track_id": ["a", "b"]})
    assert positive_mask(s).tolist() == [True, True]


def test_tiny_dataset_shape_and_ids(tiny_dataset, tiny_catalog):
    ds = tiny_dataset
    assert ds.users.external_ids.tolist() == ["007", "7", "alice", "bob", "carol", "dave"]
    # catalogue tracks first (in catalogue order), then tracks only seen in the sessions
    assert ds.tracks.external_ids.tolist() == tiny_catalog["track_id"].tolist() + ["x99"]
    assert ds.has_content.tolist() == [True] * 12 + [False]
    assert ds.positives.shape == ds.played.shape == (6, 13)
    assert ds.catalog["track_id"].tolist() == ds.tracks.external_ids.tolist()
    assert pd.isna(ds.catalog["genre"].iloc[-1])


def test_plays_not_in_catalog_counted_and_kept(tiny_dataset):
    ds = tiny_dataset
    assert ds.stats["plays_not_in_catalog"] == 1
    carol, x99 = ds.users.to_internal(["carol"])[0], ds.tracks.to_internal(["x99"])[0]
    assert ds.positives[carol, x99] == 1.0  # collaborative models can use it


def test_repeats_count_and_skips_are_played_not_positive(tiny_dataset):
    ds = tiny_dataset
    u, t = ds.users.to_internal(["007"])[0], ds.tracks.to_internal(["007", "7", "t09"])
    assert ds.positives[u, t[0]] == 2.0 and ds.positives[u, t[1]] == 2.0
    assert ds.positives[u, t[2]] == 0 and ds.played[u, t[2]]


def test_user_with_only_short_plays_has_no_positives(tiny_dataset):
    dave = tiny_dataset.users.to_internal(["dave"])[0]
    assert tiny_dataset.positives[dave].nnz == 0 and tiny_dataset.played[dave].nnz == 1


def test_stats_and_cutoff(tiny_dataset, tiny_sessions):
    st = tiny_dataset.stats
    assert st["plays"] == len(tiny_sessions) == 26
    assert st["positive_plays"] == 23  # 26 minus dave's short play and two skips
    assert st["catalog_tracks"] == 12
    assert pd.Timestamp(tiny_dataset.data_cutoff) == tiny_sessions["played_at"].max()
    assert len(tiny_dataset.fingerprint) == 16


def test_popularity_counts_distinct_users(tiny_dataset):
    pop = tiny_dataset.popularity()
    t = tiny_dataset.tracks.to_internal(["007", "t09", "t11"])
    assert pop[t].tolist() == [2.0, 2.0, 1.0]  # 007: users 007 + alice (not 3 plays); t11: bob only


def test_weight_column_counts_plays():
    s = _s([("u", "a", 60_000, False)])
    s["weight"] = 5.0
    assert Dataset.from_frames(s).positives[0, 0] == 5.0


def test_history_matrix_unknown_user_and_user_items(tiny_dataset):
    ds = tiny_dataset
    uidx, rows = ds.history_matrix(["alice", "nobody"])
    assert uidx.tolist() == [2, -1]
    assert rows[0].nnz == 4 and rows[1].nnz == 0
    uidx, rows = ds.history_matrix(["alice", "new"], {"new": ["t05", "t05", "unknown-track"], "alice": []})
    assert rows[0].nnz == 0  # replaced by the given (empty) history
    t05 = ds.tracks.to_internal(["t05"])[0]
    assert rows[1].indices.tolist() == [t05] and rows[1].data.tolist() == [2.0]
