"""Splits: by time per user (no future leakage), or seeded random without timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trackrec.data.dataset import positive_mask
from trackrec.evaluation.split import split_sessions


def _user_frame(user, tracks, start="2026-01-01", step_min=10, **extra):
    t0 = pd.Timestamp(start, tz="UTC")
    n = len(tracks)
    df = pd.DataFrame({"user_id": user, "track_id": tracks,
                       "played_at": [t0 + pd.Timedelta(minutes=step_min * i) for i in range(n)],
                       "ms_played": 200_000.0, "skipped": False, "weight": 1.0})
    for k, v in extra.items():
        df[k] = v
    return df


def test_last_20_percent_of_distinct_tracks_are_test():
    # u1 enjoys 10 distinct tracks (a..j, with a repeat of a at the end); u2 enjoys 4 (no test: floor(0.8)=0)
    s = pd.concat([_user_frame("u1", list("abcdefghij") + ["a"]), _user_frame("u2", list("wxyz"), start="2026-02-01")])
    train, test, info = split_sessions(s)
    assert test.values.tolist() == [["u1", "i"], ["u1", "j"]]
    assert set(train.loc[train.user_id == "u1", "track_id"]) == set("abcdefgh")  # the late repeat of a is dropped
    assert (train.user_id == "u2").sum() == 4
    assert info["kind"] == "per-user-time" and info["test_pairs"] == 2 and info["test_users"] == 1


def test_no_future_leakage_on_generated_world(world):
    _, sessions = world
    train, test, _ = split_sessions(sessions)
    assert len(test) > 0
    pos = sessions[positive_mask(sessions)]
    first = pos.groupby(["user_id", "track_id"])["played_at"].min()
    first_test = first.loc[pd.MultiIndex.from_frame(test)].groupby(level="user_id").min()
    last_train = train.groupby("user_id")["played_at"].max()
    common = first_test.index.intersection(last_train.index)
    assert len(common) == test["user_id"].nunique()
    assert (last_train[common] < first_test[common]).all()
    # test tracks were never enjoyed in training
    tr_pos = train[positive_mask(train)]
    key = pd.MultiIndex.from_frame(tr_pos[["user_id", "track_id"]])
    assert not key.isin(pd.MultiIndex.from_frame(test)).any()
    # about 20% of each user's distinct enjoyed tracks
    n = pos.groupby("user_id")["track_id"].nunique()
    per_user = test.groupby("user_id").size()
    np.testing.assert_array_equal(per_user.to_numpy(), np.floor(0.2 * n[per_user.index]).to_numpy())


def test_skipped_plays_do_not_define_test_tracks():
    s = _user_frame("u", list("abcdefghij"))
    s.loc[s.track_id == "j", "skipped"] = True  # j is played last, but not enjoyed
    _, test, _ = split_sessions(s)
    assert test["track_id"].tolist() == ["i"]  # 9 enjoyed tracks: floor(1.8) = 1 test track


def test_test_fraction_validated():
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\), got 1.5"):
        split_sessions(_user_frame("u", list("abc")), test_fraction=1.5)


def test_nobody_with_a_test_part_keeps_everything():
    s = _user_frame("u", ["a", "b"])
    train, test, _ = split_sessions(s)
    assert len(train) == 2 and len(test) == 0


def test_random_split_without_timestamps_is_seeded():
    s = pd.concat([_user_frame(f"u{i}", [f"t{j}" for j in range(10)]) for i in range(5)])
    s["played_at"] = pd.NaT
    a_train, a_test, info = split_sessions(s, random_state=1)
    b_train, b_test, _ = split_sessions(s, random_state=1)
    _, c_test, _ = split_sessions(s, random_state=2)
    assert info["kind"] == "per-user-random" and info["seed"] == 1
    pd.testing.assert_frame_equal(a_test, b_test)
    pd.testing.assert_frame_equal(a_train, b_train)
    assert not a_test.equals(c_test)
    assert a_test.groupby("user_id").size().tolist() == [2] * 5
    joined = a_train.merge(a_test, on=["user_id", "track_id"])
    assert joined.empty and len(a_train) == 40
