"""The interactions dataset every model fits on: id maps, a users x tracks matrix, the catalogue."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import schema as S
from .idmap import IdMap


def positive_mask(sessions: pd.DataFrame, *, min_ms_played: float = S.DEFAULT_MIN_MS_PLAYED,
                  skips_are_negative: bool = True) -> np.ndarray:
    """Plays that count as "the user enjoyed it": at least ``min_ms_played`` ms (unknown length
    counts) and not skipped. A frame without ``ms_played`` / ``skipped`` columns counts every play."""
    if S.MS_PLAYED in sessions.columns:
        ms = sessions[S.MS_PLAYED].to_numpy(dtype=float)
        ok = np.isnan(ms) | (ms >= min_ms_played)
    else:
        ok = np.ones(len(sessions), dtype=bool)
    if skips_are_negative and S.SKIPPED in sessions.columns:
        ok &= ~sessions[S.SKIPPED].to_numpy(dtype=bool)
    return ok


def fingerprint(sessions: pd.DataFrame, catalog: pd.DataFrame | None) -> str:
    """A short, order-independent-enough digest of the training data (for the model manifest)."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(sessions[[S.USER, S.TRACK]], index=False).to_numpy().tobytes())
    if catalog is not None:
        h.update(pd.util.hash_pandas_object(catalog[[S.TRACK]], index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class Dataset:
    """Users x tracks interactions with their id maps and (optional) catalogue.

    Attributes
    ----------
    users, tracks : IdMap
        External string ids <-> row / column numbers. Tracks are the catalogue's tracks first,
        then tracks that only appear in the sessions (no content features).
    positives : csr_matrix (n_users, n_tracks), float32
        Positive plays per (user, track) (a row with ``weight`` w counts w times).
    played : csr_matrix (n_users, n_tracks), bool
        Any play at all, positive or not: never sampled as a negative.
    catalog : DataFrame or None
        One row per track in ``tracks`` order (missing rows for session-only tracks).
    has_content : ndarray of bool
        Which tracks have a catalogue row (content models only score those).
    """

    users: IdMap
    tracks: IdMap
    positives: sp.csr_matrix
    played: sp.csr_matrix
    catalog: pd.DataFrame | None = None
    has_content: np.ndarray = field(default=None)  # type: ignore[assignment]
    data_cutoff: str | None = None
    fingerprint: str = ""
    stats: dict = field(default_factory=dict)
    #: First positive play per stored (user, track) of ``positives`` (epoch seconds, aligned with
    #: ``positives.data``; NaN when unknown). Used to carve time-respecting validation splits.
    first_played: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.has_content is None:
            self.has_content = np.zeros(len(self.tracks), dtype=bool)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    def popularity(self) -> np.ndarray:
        """Number of distinct users with a positive play, per track."""
        return np.asarray((self.positives > 0).sum(axis=0), dtype=np.float64).ravel()

    @classmethod
    def from_frames(cls, sessions: pd.DataFrame, catalog: pd.DataFrame | None = None, *,
                    min_ms_played: float = S.DEFAULT_MIN_MS_PLAYED, skips_are_negative: bool = True,
                    users: IdMap | None = None, tracks: IdMap | None = None) -> Dataset:
        """Build from canonical frames (see :func:`trackrec.data.loaders.read_sessions`).

        Plays of tracks missing from the catalogue are kept (collaborative models use them) and
        counted in ``stats['plays_not_in_catalog']``.
        """
        pos = positive_mask(sessions, min_ms_played=min_ms_played, skips_are_negative=skips_are_negative)
        if tracks is None:
            cat_ids = catalog[S.TRACK].to_numpy(dtype=object) if catalog is not None else np.array([], object)
            tracks = IdMap(cat_ids).add(sessions[S.TRACK].to_numpy(dtype=object))
        if users is None:
            users = IdMap.from_values(sessions[S.USER].to_numpy(dtype=object))
        u = users.get_indexer(sessions[S.USER].to_numpy(dtype=object))
        t = tracks.get_indexer(sessions[S.TRACK].to_numpy(dtype=object))
        known = (u >= 0) & (t >= 0)
        w = sessions[S.WEIGHT].to_numpy(dtype=np.float32) if S.WEIGHT in sessions else np.ones(len(u), np.float32)
        shape = (len(users), len(tracks))
        kp = known & pos
        positives = sp.csr_matrix((w[kp], (u[kp], t[kp])), shape=shape, dtype=np.float32)
        positives.sum_duplicates()
        first_played = None
        times = sessions[S.PLAYED_AT]
        if len(positives.data) and times.notna().all():
            secs = (times.astype("int64").to_numpy()[kp] / 1e9)
            first = pd.DataFrame({"u": u[kp], "t": t[kp], "s": secs}).groupby(["u", "t"], sort=True)["s"].min()
            first_played = first.to_numpy()  # (u, t) sorted = CSR order of the canonical matrix
        played = sp.csr_matrix((np.ones(int(known.sum()), dtype=bool), (u[known], t[known])), shape=shape,
                               dtype=bool)
        played.sum_duplicates()
        has_content = np.zeros(len(tracks), dtype=bool)
        aligned = None
        if catalog is not None:
            ci = tracks.get_indexer(catalog[S.TRACK].to_numpy(dtype=object))
            ok = ci >= 0
            if S.HAS_CONTENT in catalog.columns:  # rows a loader knows to lack content features
                ok &= catalog[S.HAS_CONTENT].map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")).to_numpy(bool)
            has_content[ci[ok]] = True
            aligned = catalog.set_index(S.TRACK).reindex(pd.Index(tracks.external_ids, name=S.TRACK)).reset_index()
        cutoff = times.max() if times.notna().any() else None
        in_cat = (sessions[S.TRACK].isin(catalog[S.TRACK]).to_numpy() if catalog is not None
                  else np.zeros(0, bool))
        stats = {
            "plays": int(len(sessions)),
            "positive_plays": int(pos.sum()),
            "users": len(users),
            "tracks": len(tracks),
            "catalog_tracks": int(has_content.sum()),
            "plays_not_in_catalog": int((~in_cat).sum()) if catalog is not None else None,
        }
        return cls(users=users, tracks=tracks, positives=positives, played=played, catalog=aligned,
                   has_content=has_content,
                   data_cutoff=cutoff.isoformat() if cutoff is not None else None,
                   fingerprint=fingerprint(sessions, catalog), stats=stats, first_played=first_played)

    def with_positives(self, positives: sp.csr_matrix, first_played: np.ndarray | None = None) -> Dataset:
        """The same users, tracks and catalogue with other positives (e.g. a validation split)."""
        return Dataset(users=self.users, tracks=self.tracks, positives=sp.csr_matrix(positives),
                       played=self.played, catalog=self.catalog, has_content=self.has_content,
                       data_cutoff=self.data_cutoff, fingerprint=self.fingerprint, stats=self.stats,
                       first_played=first_played)

    def history_matrix(self, user_ids, user_items: dict | None = None) -> tuple[np.ndarray, sp.csr_matrix]:
        """Rows of positives for ``user_ids`` (``-1`` index and empty row for unknown users).

        ``user_items`` maps a user id to that user's *current* history (track ids, repeats count
        as plays) and replaces the fit-time row; track ids the model does not know are ignored.
        """
        uidx = self.users.get_indexer(list(user_ids))
        rows = self.positives[np.maximum(uidx, 0)]
        if (uidx < 0).any():
            rows = sp.diags((uidx >= 0).astype(np.float32)) @ rows
        rows = sp.csr_matrix(rows)
        if user_items:
            lil = rows.tolil()
            uidx = uidx.copy()
            for i, uid in enumerate(user_ids):
                if uid in user_items:
                    uidx[i] = -1  # the history is the caller's now: models recompute from it
                    t = self.tracks.get_indexer(list(user_items[uid]))
                    t = t[t >= 0]
                    vals = np.bincount(t, minlength=self.n_tracks) if len(t) else np.zeros(0)
                    nz = np.flatnonzero(vals)
                    lil.rows[i] = nz.tolist()
                    lil.data[i] = vals[nz].astype(np.float32).tolist()
            rows = lil.tocsr()
        return uidx, rows
