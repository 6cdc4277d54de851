"""How much memory the local engine needs for a data set, so it can refuse early.

Calibrated on the local engine's peak RSS (``trackrec train`` + ``batch-recommend`` on generated
data, see ``docs/spark.md``: 2.3 GiB measured at 1M plays / 10k users / 50k tracks, where this
estimate says 3.4 GiB — it errs on the safe side). The dominant terms are the sessions frame (pandas object strings
for both ids, a UTC timestamp, float and bool columns, plus copies made by validation, the
time split and the sparse matrix builds) and the training pairs (``negatives_per_positive + 1``
float32 rows of ``3 * d + 1`` features per positive pair, copied by the scaler and the split).
"""

from __future__ import annotations

__all__ = ["estimate_local_memory", "LOCAL_MEMORY_LIMIT", "check_local_memory"]

#: Memory budget of one machine the local engine should stay within (bytes).
LOCAL_MEMORY_LIMIT = 24 * 2**30

# bytes per play held at the peak (pandas sessions frame and its copies); fitted on measured runs
_BYTES_PER_PLAY = 600
# share of plays that become distinct positive (user, track) pairs on typical logs
_POSITIVE_PAIR_SHARE = 0.25


def estimate_local_memory(n_users: int, n_tracks: int, n_plays: int, *, n_features: int = 26,
                          negatives_per_positive: int = 4, batch_chunk: int = 2048) -> int:
    """Estimated peak bytes of local ``train`` (and ``batch-recommend``) on this data.

    >>> estimate_local_memory(600, 3000, 120_000) < 2**30
    True
    """
    plays = _BYTES_PER_PLAY * int(n_plays)
    pairs = int(_POSITIVE_PAIR_SHARE * n_plays) * (1 + negatives_per_positive)
    pair_bytes = pairs * (3 * n_features + 1) * 4 * 3          # X, scaled copy, train split
    scoring = batch_chunk * int(n_tracks) * 4 * 3               # score block, mask, partition
    users = int(n_users) * n_features * 8 * 4                   # profiles and temporaries
    base = 400 * 2**20                                          # interpreter + libraries
    return int(base + plays + pair_bytes + scoring + users)


def check_local_memory(n_users: int, n_tracks: int, n_plays: int, *, limit: int = LOCAL_MEMORY_LIMIT) -> None:
    """Raise :class:`~trackrec.exceptions.TrainingError` pointing at ``--engine spark`` when the
    local engine would need more than ``limit`` bytes."""
    from ...exceptions import TrainingError
    need = estimate_local_memory(n_users, n_tracks, n_plays)
    if need > limit:
        raise TrainingError(f"this data ({n_plays:,} plays, {n_users:,} users, {n_tracks:,} tracks) needs about "
                            f"{need / 2**30:.0f} GiB with the local engine, more than {limit / 2**30:.0f} GiB; "
                            "run it with --engine spark (pip install 'trackrec[spark]')")
