"""The embedded store: SQLite in WAL mode holding the catalogue, users, tokens and listening events.

One file, ``<workdir>/store.db``, no server. Every process (and every thread) opens its own
connection; writes are short ``BEGIN IMMEDIATE`` transactions with ``synchronous=FULL``, so a
write that returned has been fsynced to the write-ahead log and survives a crash (``kill -9``,
power loss). An acknowledged listening event is never lost.

Tables::

    meta(key, value)                      schema version, catalogue columns, admin key hash
    tracks(rowid, track_id, ..., data)    one row per track; ``data`` is the full row as JSON
    users(user_id, created_at)
    tokens(token_hash, user_id, ...)      SHA-256 of each user token (the token itself is not kept)
    events(seq, event_id, user_id, ...)   listening events; ``event_id`` makes retries idempotent
    blocks(user_id, kind, value)          "never play this again": a track or an artist

Catalogue rows are immutable once added (a track id is added once), so "the catalogue changed"
is simply "``max(rowid)`` grew".
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import schema as S
from ..exceptions import DataError, TrackrecError, UnknownTrackError

__all__ = ["Store", "StoreError", "load_frames", "STORE_FILE", "store_path", "hash_secret", "Event",
           "MAX_BATCH"]

STORE_FILE = "store.db"
SCHEMA_VERSION = 1
MAX_BATCH = 1000
#: Catalogue columns kept as their own SQL columns (for search); everything is also in ``data``.
SEARCH_COLUMNS = ("title", "artist", "album", "genre", "mood")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracks (
    track_id TEXT NOT NULL UNIQUE,
    title TEXT, artist TEXT, album TEXT, genre TEXT, mood TEXT,
    explicit INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tracks_artist ON tracks(artist);
CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user_id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE,
    user_id TEXT NOT NULL,
    track_id TEXT NOT NULL,
    played_at INTEGER,
    ms_played REAL,
    skipped INTEGER NOT NULL DEFAULT 0,
    weight REAL NOT NULL DEFAULT 1,
    rec_id TEXT,
    strategy TEXT,
    received_at INTEGER NOT NULL
);
-- covering index: a user's plays (the hot path of live recommendations) without table lookups
CREATE INDEX IF NOT EXISTS events_user ON events(user_id, seq, track_id, ms_played, skipped, weight);
CREATE INDEX IF NOT EXISTS events_strategy ON events(strategy) WHERE strategy IS NOT NULL;
CREATE TABLE IF NOT EXISTS blocks (
    user_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind, value)
);
"""


class StoreError(TrackrecError):
    """The store is missing, of another schema version, or a write conflicts (e.g. duplicate track)."""


def store_path(workdir: str | Path) -> Path:
    return Path(workdir) / STORE_FILE


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (keys and tokens are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _json_value(v):
    if v is None:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(float(v)) else float(v)
    if v is pd.NA or v is pd.NaT:
        return None
    return v if isinstance(v, (int, str)) else str(v)


@dataclass(frozen=True)
class Event:
    """One listening event as the store takes it."""

    user_id: str
    track_id: str
    played_at_ms: int | None = None
    ms_played: float | None = None
    skipped: bool = False
    event_id: str | None = None
    rec_id: str | None = None
    strategy: str | None = None


class Store:
    """A handle on ``store.db``: one SQLite connection per thread, opened lazily."""

    def __init__(self, path: str | Path, *, create: bool = False):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"{self.path}: no store here; run 'trackrec init --workdir {self.path.parent}' first")
        self._local = threading.local()
        conn = self.conn
        if create:
            conn.executescript(_SCHEMA)
            with self.write() as c:
                c.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        v = self.get_meta("schema_version")
        if v != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: store schema version {v!r}, this trackrec reads {SCHEMA_VERSION}")

    # --- connections ----------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=FULL")
            c.execute("PRAGMA busy_timeout=30000")
            c.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = c
        return c

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    class _Tx:
        def __init__(self, conn):
            self.c = conn

        def __enter__(self):
            self.c.execute("BEGIN IMMEDIATE")
            return self.c

        def __exit__(self, exc_type, exc, tb):
            self.c.execute("COMMIT" if exc_type is None else "ROLLBACK")
            return False

    def write(self) -> Store._Tx:
        """A write transaction (``with store.write() as c: ...``), committed durably on exit."""
        return Store._Tx(self.conn)

    # --- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as c:
            c.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                      (key, value))

    @property
    def catalog_columns(self) -> list[dict]:
        raw = self.get_meta("catalog_columns")
        return json.loads(raw) if raw else [{"name": S.TRACK, "kind": "str"}]

    # --- catalogue ------------------------------------------------------------------------
    def add_tracks(self, catalog: pd.DataFrame | Sequence[dict], *, replace_columns: bool = False) -> int:
        """Insert catalogue rows; an existing track id raises :class:`StoreError` (nothing written).

        The first import (``replace_columns=True``) records the catalogue's columns and kinds.
        """
        df = catalog if isinstance(catalog, pd.DataFrame) else pd.DataFrame(list(catalog))
        if S.TRACK not in df.columns:
            raise DataError(f"catalogue rows need a '{S.TRACK}'", column=S.TRACK)
        if replace_columns:
            cols = []
            for c in df.columns:
                s = df[c]
                kind = "bool" if pd.api.types.is_bool_dtype(s) else \
                    "float" if pd.api.types.is_numeric_dtype(s) else "str"
                cols.append({"name": str(c), "kind": kind})
            self.set_meta("catalog_columns", json.dumps(cols))
        ids = df[S.TRACK].astype(str).tolist()
        records = df.to_dict("records")
        now = _now_ms()
        rows = []
        for tid, rec in zip(ids, records):
            rec = {str(k): _json_value(v) for k, v in rec.items()}
            rec[S.TRACK] = tid
            rows.append((tid, *(None if rec.get(c) is None else str(rec.get(c)) for c in SEARCH_COLUMNS),
                         1 if rec.get("explicit") else 0, json.dumps(rec), now))
        try:
            with self.write() as c:
                c.executemany("INSERT INTO tracks (track_id, title, artist, album, genre, mood, explicit, data, "
                              "added_at) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        except sqlite3.IntegrityError:
            dup = self.existing_tracks(ids)
            raise StoreError(f"track id '{dup[0] if dup else ids[0]}' is already in the catalogue; "
                             "track ids are added once") from None
        return len(rows)

    def existing_tracks(self, track_ids: Iterable[str]) -> list[str]:
        """The given ids that are in the catalogue (in the given order)."""
        ids = list(dict.fromkeys(str(t) for t in track_ids))
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = f"SELECT track_id FROM tracks WHERE track_id IN ({','.join('?' * len(part))})"
            found.update(r[0] for r in self.conn.execute(q, part))
        return [t for t in ids if t in found]

    def catalog_seq(self) -> int:
        """Grows whenever a track is added (cheap: the largest rowid)."""
        row = self.conn.execute("SELECT max(rowid) FROM tracks").fetchone()
        return int(row[0] or 0)

    def tracks_since(self, seq: int = 0) -> tuple[int, list[dict]]:
        """(new catalogue seq, full rows of tracks added after ``seq``) in insertion order."""
        rows = self.conn.execute("SELECT rowid, data FROM tracks WHERE rowid > ? ORDER BY rowid", (seq,)).fetchall()
        if not rows:
            return seq, []
        return int(rows[-1][0]), [json.loads(r[1]) for r in rows]

    def track(self, track_id: str) -> dict | None:
        row = self.conn.execute("SELECT data FROM tracks WHERE track_id=?", (track_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def search_tracks(self, *, q: str | None = None, title: str | None = None, artist: str | None = None,
                      genre: str | None = None, mood: str | None = None, explicit: bool | None = None,
                      limit: int = 20, offset: int = 0) -> tuple[int, list[dict]]:
        """(total matches, one page of rows). ``q`` matches title, artist, album, genre or mood;
        the other filters are case-insensitive substrings of their column."""
        where, args = [], []

        def like(v: str) -> str:
            return "%" + v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if q:
            where.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in SEARCH_COLUMNS) + ")")
            args += [like(q)] * len(SEARCH_COLUMNS)
        for col, v in (("title", title), ("artist", artist), ("genre", genre), ("mood", mood)):
            if v:
                where.append(f"{col} LIKE ? ESCAPE '\\'")
                args.append(like(v))
        if explicit is not None:
            where.append("explicit = ?")
            args.append(1 if explicit else 0)
        w = (" WHERE " + " AND ".join(where)) if where else ""
        total = self.conn.execute(f"SELECT count(*) FROM tracks{w}", args).fetchone()[0]
        rows = self.conn.execute(f"SELECT data FROM tracks{w} ORDER BY rowid LIMIT ? OFFSET ?",
                                 [*args, limit, offset]).fetchall()
        return int(total), [json.loads(r[0]) for r in rows]

    # --- users and tokens -------------------------------------------------------------------
    def ensure_users(self, user_ids: Iterable[str], c: sqlite3.Connection | None = None) -> None:
        now = _now_ms()
        rows = [(u, now) for u in dict.fromkeys(user_ids)]
        if c is not None:
            c.executemany("INSERT OR IGNORE INTO users VALUES (?, ?)", rows)
            return
        with self.write() as c2:
            c2.executemany("INSERT OR IGNORE INTO users VALUES (?, ?)", rows)

    def user_exists(self, user_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM users WHERE user_id=?", (user_id,)).fetchone() is not None

    def issue_token(self, user_id: str) -> str:
        """A new random token for ``user_id`` (created if new); only its hash is stored."""
        token = "trk_u_" + secrets.token_urlsafe(24)
        with self.write() as c:
            self.ensure_users([user_id], c)
            c.execute("INSERT INTO tokens VALUES (?, ?, ?)", (hash_secret(token), user_id, _now_ms()))
        return token

    def user_for_token(self, token: str) -> str | None:
        row = self.conn.execute("SELECT user_id FROM tokens WHERE token_hash=?", (hash_secret(token),)).fetchone()
        return row[0] if row else None

    def set_admin_key(self, key: str) -> None:
        self.set_meta("admin_key_sha256", hash_secret(key))

    def admin_key_hash(self) -> str | None:
        return self.get_meta("admin_key_sha256")

    # --- events ---------------------------------------------------------------------------
    def add_events(self, events: Sequence[Event]) -> tuple[list[str], int]:
        """Store events in one durable transaction. Returns (event ids, number newly stored);
        an event id already present (a retried batch) is not stored twice.

        Unknown track ids raise :class:`UnknownTrackError` and nothing is written.
        """
        if len(events) > MAX_BATCH:
            raise DataError(f"at most {MAX_BATCH} events per batch, got {len(events)}")
        known = set(self.existing_tracks(e.track_id for e in events))
        for i, e in enumerate(events):
            if e.track_id not in known:
                raise UnknownTrackError(f"events[{i}].track_id: unknown track '{e.track_id}'")
        now = _now_ms()
        ids = [e.event_id or uuid.uuid4().hex for e in events]
        rows = [(eid, e.user_id, e.track_id, e.played_at_ms if e.played_at_ms is not None else now,
                 e.ms_played, 1 if e.skipped else 0, 1.0, e.rec_id, e.strategy, now)
                for eid, e in zip(ids, events)]
        with self.write() as c:
            self.ensure_users([e.user_id for e in events], c)
            before = c.total_changes
            c.executemany("INSERT INTO events (event_id, user_id, track_id, played_at, ms_played, skipped, weight, "
                          "rec_id, strategy, received_at) VALUES (?,?,?,?,?,?,?,?,?,?) "
                          "ON CONFLICT(event_id) DO NOTHING", rows)
            stored = c.total_changes - before
        return ids, stored

    def import_sessions(self, sessions: pd.DataFrame) -> int:
        """Bulk-load canonical sessions (``trackrec init``); no event ids, no per-row checks."""
        n = len(sessions)
        ts = pd.to_datetime(sessions[S.PLAYED_AT], utc=True)
        na = ts.isna().to_numpy()
        ms = ts.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64)
        ms = np.where(na, _now_ms(), ms)
        played = sessions[S.MS_PLAYED].to_numpy(dtype=float) if S.MS_PLAYED in sessions else np.full(n, np.nan)
        skipped = sessions[S.SKIPPED].to_numpy(dtype=bool) if S.SKIPPED in sessions else np.zeros(n, bool)
        weight = sessions[S.WEIGHT].to_numpy(dtype=float) if S.WEIGHT in sessions else np.ones(n)
        now = _now_ms()
        users = sessions[S.USER].astype(str).tolist()
        tracks = sessions[S.TRACK].astype(str).tolist()
        rows = ((u, t, int(m), None if math.isnan(p) else float(p), int(s), float(w), now)
                for u, t, m, p, s, w in zip(users, tracks, ms.tolist(), played.tolist(), skipped.tolist(),
                                             weight.tolist()))
        with self.write() as c:
            self.ensure_users(users, c)
            c.executemany("INSERT INTO events (user_id, track_id, played_at, ms_played, skipped, weight, received_at) "
                          "VALUES (?,?,?,?,?,?,?)", rows)
        return n

    def user_events(self, user_id: str, *, limit: int | None = None, offset: int = 0,
                    newest_first: bool = True) -> list[dict]:
        order = "DESC" if newest_first else "ASC"
        q = (f"SELECT e.event_id, e.track_id, e.played_at, e.ms_played, e.skipped, e.rec_id, e.strategy, "
             f"t.title, t.artist, t.genre, t.mood FROM events e LEFT JOIN tracks t ON t.track_id = e.track_id "
             f"WHERE e.user_id=? ORDER BY e.seq {order} LIMIT ? OFFSET ?")
        rows = self.conn.execute(q, (user_id, -1 if limit is None else limit, offset)).fetchall()
        keys = ("event_id", "track_id", "played_at", "ms_played", "skipped", "rec_id", "strategy",
                "title", "artist", "genre", "mood")
        out = []
        for r in rows:
            d = dict(zip(keys, r))
            d["skipped"] = bool(d["skipped"])
            d["played_at"] = pd.Timestamp(d["played_at"], unit="ms", tz="UTC").isoformat() \
                if d["played_at"] is not None else None
            out.append(d)
        return out

    def count_events(self, user_id: str | None = None) -> int:
        if user_id is None:
            return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])
        return int(self.conn.execute("SELECT count(*) FROM events WHERE user_id=?", (user_id,)).fetchone()[0])

    def user_plays(self, user_id: str) -> tuple[list[str], list[float | None], list[int], list[float]]:
        """(track ids, ms played, skipped, weight) of every play of the user, oldest first — the
        hot path of live recommendations (one indexed range scan)."""
        rows = self.conn.execute("SELECT track_id, ms_played, skipped, weight FROM events WHERE user_id=? "
                                 "ORDER BY seq", (user_id,)).fetchall()
        if not rows:
            return [], [], [], []
        t, m, s, w = zip(*rows)
        return list(t), list(m), list(s), list(w)

    def strategy_stats(self) -> list[dict]:
        """Listens that came from a recommendation, per strategy: count, skip rate, play-through rate
        (not skipped and at least 30 s, i.e. counted as enjoyed)."""
        rows = self.conn.execute(
            "SELECT strategy, count(*), sum(skipped), "
            "sum(CASE WHEN skipped = 0 AND (ms_played IS NULL OR ms_played >= ?) THEN 1 ELSE 0 END) "
            "FROM events WHERE strategy IS NOT NULL GROUP BY strategy ORDER BY strategy",
            (S.DEFAULT_MIN_MS_PLAYED,)).fetchall()
        return [{"strategy": s, "listens": int(n), "skip_rate": float(sk) / n if n else 0.0,
                 "play_through_rate": float(pt) / n if n else 0.0} for s, n, sk, pt in rows]

    # --- blocks ---------------------------------------------------------------------------
    def add_block(self, user_id: str, kind: str, value: str) -> None:
        with self.write() as c:
            self.ensure_users([user_id], c)
            c.execute("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?)", (user_id, kind, value, _now_ms()))

    def remove_block(self, user_id: str, kind: str, value: str) -> bool:
        with self.write() as c:
            cur = c.execute("DELETE FROM blocks WHERE user_id=? AND kind=? AND value=?", (user_id, kind, value))
            return cur.rowcount > 0

    def blocks(self, user_id: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"track": [], "artist": []}
        for kind, value in self.conn.execute("SELECT kind, value FROM blocks WHERE user_id=? ORDER BY created_at",
                                             (user_id,)):
            out.setdefault(kind, []).append(value)
        return out

    # --- a user's data ---------------------------------------------------------------------
    def export_user(self, user_id: str) -> dict:
        row = self.conn.execute("SELECT created_at FROM users WHERE user_id=?", (user_id,)).fetchone()
        return {"user_id": user_id,
                "created_at": pd.Timestamp(row[0], unit="ms", tz="UTC").isoformat() if row else None,
                "events": self.user_events(user_id, newest_first=False),
                "blocks": self.blocks(user_id),
                "tokens": int(self.conn.execute("SELECT count(*) FROM tokens WHERE user_id=?",
                                                (user_id,)).fetchone()[0])}

    def delete_user(self, user_id: str) -> dict:
        """Delete every row about ``user_id`` (events, blocks, tokens, the user). Returns counts."""
        with self.write() as c:
            counts = {t: c.execute(f"DELETE FROM {t} WHERE user_id=?", (user_id,)).rowcount
                      for t in ("events", "blocks", "tokens", "users")}
        return counts

    # --- frames -----------------------------------------------------------------------------
    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Canonical (sessions, catalogue) frames of everything in the store."""
        sess = pd.read_sql_query("SELECT user_id, track_id, played_at, ms_played, skipped, weight FROM events "
                                 "ORDER BY seq", self.conn)
        sess[S.USER] = sess[S.USER].astype(object)
        sess[S.TRACK] = sess[S.TRACK].astype(object)
        sess[S.PLAYED_AT] = pd.to_datetime(sess[S.PLAYED_AT], unit="ms", utc=True)
        sess[S.MS_PLAYED] = sess[S.MS_PLAYED].astype(float)
        sess[S.SKIPPED] = sess[S.SKIPPED].astype(bool)
        sess[S.WEIGHT] = sess[S.WEIGHT].astype(float)
        _, rows = self.tracks_since(0)
        cols = self.catalog_columns
        cat = pd.DataFrame(rows, columns=[c["name"] for c in cols])
        for c in cols:
            if c["kind"] == "float":
                cat[c["name"]] = pd.to_numeric(cat[c["name"]], errors="coerce").astype(float)
            elif c["kind"] == "bool":
                cat[c["name"]] = cat[c["name"]].fillna(False).astype(bool)
            else:
                cat[c["name"]] = cat[c["name"]].astype(object).where(cat[c["name"]].notna(), None)
        return sess, cat


def load_frames(workdir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Canonical ``(sessions, catalog)`` frames from ``<workdir>/store.db``, or ``None`` without a
    store — so ``trackrec train`` in a workdir with a store trains on the store's listens."""
    p = store_path(workdir)
    if not p.exists():
        return None
    store = Store(p)
    try:
        return store.frames()
    finally:
        store.close()
