"""Train/test splits that respect time: the future never leaks into training."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import schema as S
from ..data.dataset import positive_mask

__all__ = ["split_sessions"]


def split_sessions(sessions: pd.DataFrame, *, test_fraction: float = 0.2, random_state=0,
                   min_ms_played: float = S.DEFAULT_MIN_MS_PLAYED,
                   skips_are_negative: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per-user split into training sessions and test (user, track) pairs.

    With timestamps: each user's distinct positively-played tracks are ordered by first positive
    play; the last ``floor(test_fraction * n)`` are test. The user's cutoff is the first play time
    of the earliest test track: training keeps only that user's plays strictly before it, and test
    pairs are tracks first enjoyed at/after it that were not enjoyed before. Without timestamps:
    a seeded random ``test_fraction`` of each user's distinct pairs is test.

    Returns ``(train_sessions, test_pairs, info)``; ``test_pairs`` has ``user_id, track_id``.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    pos = positive_mask(sessions, min_ms_played=min_ms_played, skips_are_negative=skips_are_negative)
    has_time = sessions[S.PLAYED_AT].notna().all()
    p = sessions.loc[pos, [S.USER, S.TRACK, S.PLAYED_AT]]
    if has_time:
        first = p.groupby([S.USER, S.TRACK], sort=False)[S.PLAYED_AT].min().reset_index()
        first = first.sort_values([S.USER, S.PLAYED_AT, S.TRACK], kind="stable")
        n = first.groupby(S.USER, sort=False)[S.TRACK].transform("size").to_numpy()
        rank = first.groupby(S.USER, sort=False).cumcount().to_numpy()
        n_test = np.floor(test_fraction * n).astype(int)
        is_test = rank >= n - n_test
        test = first[is_test]
        cutoff = test.groupby(S.USER)[S.PLAYED_AT].min()
        if len(cutoff):
            user_cut = sessions[S.USER].map(cutoff)
            keep = (user_cut.isna() | (sessions[S.PLAYED_AT] < user_cut)).to_numpy()
        else:  # nobody has enough tracks for a test part (mapping an empty Series fails on pandas 3)
            keep = np.ones(len(sessions), dtype=bool)
        train = sessions[keep].reset_index(drop=True)
        test_pairs = test[[S.USER, S.TRACK]].reset_index(drop=True)
        info = {"kind": "per-user-time", "test_fraction": test_fraction,
                "train_cutoff_max": train[S.PLAYED_AT].max().isoformat() if len(train) else None}
    else:
        pairs = p[[S.USER, S.TRACK]].drop_duplicates().reset_index(drop=True)
        rng = np.random.default_rng(random_state)
        r = rng.random(len(pairs))
        pairs["_r"] = r
        rank = pairs.groupby(S.USER)["_r"].rank(method="first").to_numpy()
        n = pairs.groupby(S.USER)[S.TRACK].transform("size").to_numpy()
        is_test = rank > n - np.floor(test_fraction * n)
        test_pairs = pairs.loc[is_test, [S.USER, S.TRACK]].reset_index(drop=True)
        key = pd.MultiIndex.from_frame(sessions[[S.USER, S.TRACK]])
        tkey = pd.MultiIndex.from_frame(test_pairs)
        train = sessions[~key.isin(tkey)].reset_index(drop=True)
        info = {"kind": "per-user-random", "test_fraction": test_fraction, "seed": random_state}
    info.update({"train_plays": int(len(train)), "test_pairs": int(len(test_pairs)),
                 "test_users": int(test_pairs[S.USER].nunique())})
    return train, test_pairs, info
