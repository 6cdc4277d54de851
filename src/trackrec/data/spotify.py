"""Spotify "Extended streaming history" exports: read them, and add a person's plays to a workdir.

The export (Account privacy -> "Extended streaming history") is a set of JSON files
(``Streaming_History_Audio_2023_1.json`` ...), each an array of plays::

    {"ts": "2024-03-01T18:22:05Z", "ms_played": 215000, "master_metadata_track_name": "...",
     "master_metadata_album_artist_name": "...", "master_metadata_album_album_name": "...",
     "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC", "reason_start": "trackdone",
     "reason_end": "fwdbtn", "skipped": true, "conn_country": "DE", "username": "...", ...}

The older, basic "Account data" export (``StreamingHistory0.json``: ``endTime``, ``artistName``,
``trackName``, ``msPlayed``) is read too (no URIs: tracks match by artist and title only).

:func:`read_spotify_history` keeps music plays and counts what it drops (podcast/audiobook
episodes, rows without a track, unparseable ``ts``...). :func:`import_spotify` adds those plays as
one user of a workdir: tracks match the catalogue by Spotify URI, else by normalised
(artist, title); unmatched tracks are added to the catalogue with title/artist/album and empty
feature columns (``has_content`` = False), plays are appended to the sessions file, and a second
import of the same export adds nothing (plays are deduplicated on user, track and time).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DataError
from . import schema as S
from .loaders import parse_timestamps, read_table

__all__ = ["read_spotify_history", "import_spotify", "normalise_text", "track_uri_id", "DEFAULT_USER"]

DEFAULT_USER = "spotify-user"
HAS_CONTENT = "has_content"

TS, MS, TRACK_NAME, ARTIST_NAME, ALBUM_NAME, URI = (
    "ts", "ms_played", "master_metadata_track_name", "master_metadata_album_artist_name",
    "master_metadata_album_album_name", "spotify_track_uri")
_EPISODE_FIELDS = ("episode_name", "episode_show_name", "spotify_episode_uri", "audiobook_title",
                   "audiobook_uri", "audiobook_chapter_uri", "audiobook_chapter_title")
#: Basic "Account data" export field -> extended export field.
_BASIC_FIELDS = {"endTime": TS, "msPlayed": MS, "trackName": TRACK_NAME, "artistName": ARTIST_NAME}

R_EPISODE = "podcast/audiobook episode"
R_NO_TRACK = "no track (no uri and no artist + title)"
R_TS = "unparseable ts"
R_MS = "bad ms_played"
R_NOT_OBJECT = "not a JSON object"
R_DUP = "duplicate row in export"
R_ALREADY = "already in the workdir (imported before)"

_URI_RE = re.compile(r"(?:spotify:track:|https?://open\.spotify\.com/(?:intl-[a-z-]+/)?track/)?([A-Za-z0-9]{22})(?:\?.*)?$")


def normalise_text(value: object) -> str:
    """Text for matching: Unicode NFKC, case-folded, whitespace collapsed; missing -> ``""``."""
    if not isinstance(value, str):
        return ""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def track_uri_id(value: object) -> str | None:
    """The 22-character track id of ``spotify:track:ID``, an ``open.spotify.com/track/ID`` link or
    a bare id; ``None`` for anything else (episode URIs, local files, empty)."""
    if not isinstance(value, str):
        return None
    m = _URI_RE.match(value.strip())
    return m.group(1) if m else None


# --- reading --------------------------------------------------------------------------------

def _expand(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(set(p.glob("Streaming_History*.json")) | set(p.glob("StreamingHistory*.json")))
            if not found:
                raise DataError("no Spotify streaming history files (Streaming_History*.json) in this directory",
                                path=str(p))
            out.extend(found)
        else:
            out.append(p)
    if not out:
        raise DataError("no Spotify export files given")
    return out


def _load_json(path: Path) -> list:
    p = str(path)
    if not path.exists():
        raise DataError("file not found", path=p)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("file is empty", path=p)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 text (offset {exc.start}); expected a Spotify JSON export", path=p) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                        f"expected a Spotify streaming history export", path=p) from None
    if not isinstance(data, list):
        raise DataError(f"expected a JSON array of plays (Spotify streaming history), got a JSON "
                        f"{type(data).__name__.replace('dict', 'object')}", path=p)
    return data


def read_spotify_history(paths) -> pd.DataFrame:
    """Read Spotify streaming history JSON files into one frame of music plays.

    Parameters
    ----------
    paths : path, or iterable of paths
        JSON files; a directory means its ``Streaming_History*.json`` / ``StreamingHistory*.json``.

    Returns
    -------
    DataFrame
        One row per music play, the export's field names kept: ``ts`` (UTC datetime),
        ``ms_played`` (float), ``master_metadata_track_name``, ``master_metadata_album_artist_name``,
        ``master_metadata_album_album_name``, ``spotify_track_uri`` (``spotify:track:<id>`` or
        None), ``skipped`` (bool: the export's ``skipped`` flag, or ``reason_end == "fwdbtn"``),
        ``reason_end``, ``conn_country``, ``username`` (None when absent), any other fields, and
        ``source_file`` / ``source_row`` (1-based position in its file's array).
        ``df.attrs["skipped_rows"]`` counts dropped rows by reason (podcast/audiobook episodes,
        rows without a track, unparseable ``ts``, bad ``ms_played``, duplicates);
        ``df.attrs["rows_read"]`` and ``df.attrs["files"]`` describe the input.

    Raises
    ------
    DataError
        One line naming the file: missing, empty, not JSON, not an array, or no ``ts`` field.
    """
    files = _expand(paths)
    frames = []
    skipped: dict[str, int] = {}
    rows_read = 0

    def count(reason: str, n: int) -> None:
        if n:
            skipped[reason] = skipped.get(reason, 0) + int(n)

    for path in files:
        data = _load_json(path)
        rows_read += len(data)
        is_obj = np.array([isinstance(r, dict) for r in data], dtype=bool)
        count(R_NOT_OBJECT, int((~is_obj).sum()))
        recs = [r for r, ok in zip(data, is_obj) if ok]
        if not recs:
            if data:
                raise DataError("no play objects in the JSON array (expected Spotify streaming history)",
                                path=str(path))
            continue
        df = pd.DataFrame.from_records(recs)
        df = df.rename(columns={k: v for k, v in _BASIC_FIELDS.items() if k in df.columns and v not in df.columns})
        if TS not in df.columns:
            raise DataError(f"missing field '{TS}' in every row (expected a Spotify 'Extended streaming "
                            f"history' export with ts, ms_played, master_metadata_track_name, ...)",
                            path=str(path), column=TS)
        df["source_file"] = path.name
        df["source_row"] = np.flatnonzero(is_obj) + 1
        frames.append(df)
    if not frames:
        raise DataError("the export holds no plays", path=", ".join(map(str, files)))
    df = pd.concat(frames, ignore_index=True, sort=False).astype(object)
    for col in (MS, TRACK_NAME, ARTIST_NAME, ALBUM_NAME, URI, S.SKIPPED, "reason_end", "conn_country", "username"):
        if col not in df.columns:
            df[col] = None
    df = df.where(df.notna(), None)
    for col in (TRACK_NAME, ARTIST_NAME, ALBUM_NAME):
        df[col] = df[col].map(lambda v: v.strip() if isinstance(v, str) and v.strip() else None)

    drop = np.zeros(len(df), dtype=bool)
    uri_id = [track_uri_id(v) for v in df[URI]]
    has_title = df[TRACK_NAME].notna().to_numpy() & df[ARTIST_NAME].notna().to_numpy()
    has_track = np.array([u is not None for u in uri_id], dtype=bool) | has_title
    episode = np.zeros(len(df), dtype=bool)
    for col in _EPISODE_FIELDS:
        if col in df.columns:
            episode |= df[col].notna().to_numpy()
    count(R_EPISODE, int((~has_track & episode).sum()))
    count(R_NO_TRACK, int((~has_track & ~episode).sum()))
    drop |= ~has_track

    ts = parse_timestamps(df[TS])
    bad_ts = ts.isna().to_numpy() & ~drop
    count(R_TS, int(bad_ts.sum()))
    drop |= bad_ts
    ms = pd.to_numeric(df[MS], errors="coerce").astype(float)
    bad_ms = (df[MS].notna().to_numpy() & ms.isna().to_numpy()) | (ms.to_numpy() < 0)
    bad_ms &= ~drop
    count(R_MS, int(bad_ms.sum()))
    drop |= bad_ms

    sk = df[S.SKIPPED].map(lambda v: v is True or (isinstance(v, str) and v.strip().lower() == "true"))
    sk = sk.to_numpy(dtype=bool) | (df["reason_end"].map(lambda v: v == "fwdbtn").to_numpy(dtype=bool))
    df[TS] = ts
    df[MS] = ms
    df[URI] = pd.Series([f"spotify:track:{i}" if isinstance(i, str) else None for i in uri_id],
                        index=df.index, dtype=object)
    df[S.SKIPPED] = sk
    df = df[~drop]
    key = pd.DataFrame({"ts": df[TS], "who": df["username"].map(lambda v: v if isinstance(v, str) else ""),
                        "u": df[URI].fillna(""), "a": df[ARTIST_NAME].map(normalise_text),
                        "t": df[TRACK_NAME].map(normalise_text), "m": df[MS]})
    dup = key.duplicated().to_numpy()
    count(R_DUP, int(dup.sum()))
    df = df[~dup].reset_index(drop=True)
    df["source_row"] = df["source_row"].astype(np.int64)
    df.attrs["skipped_rows"] = skipped
    df.attrs["rows_read"] = rows_read
    df.attrs["files"] = [str(f) for f in files]
    return df


# --- importing into a workdir ---------------------------------------------------------------

def _user_from_export(df: pd.DataFrame) -> str:
    names = sorted({str(v).strip() for v in df["username"] if isinstance(v, str) and v.strip()})
    if len(names) > 1:
        raise DataError(f"the files hold plays of {len(names)} Spotify accounts ({', '.join(names[:3])}); "
                        f"import each person's export separately, or pass --user to merge them into one user")
    return f"spotify-{names[0]}" if names else DEFAULT_USER


def _read_frame(path: Path) -> pd.DataFrame:
    """A workdir data file as stored: CSV as strings (values round-trip unchanged), Parquet typed."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types
            raise DataError(f"cannot read as Parquet ({type(exc).__name__})", path=str(path)) from None
    return read_table(path).astype(object)


def _write_frame(df: pd.DataFrame, path: Path) -> None:
    """Write atomically: a temporary file in the same directory, then rename over."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _local_id(artist: str, title: str) -> str:
    h = hashlib.sha1(f"{normalise_text(artist)}\x1f{normalise_text(title)}".encode()).hexdigest()[:16]
    return f"spotify-local:{h}"


def _match(plays: pd.DataFrame, catalog: pd.DataFrame | None) -> tuple[pd.Series, pd.DataFrame, dict]:
    """Track id per play, the new catalogue rows, and match statistics (distinct tracks)."""
    uri_id = np.array([track_uri_id(v) for v in plays[URI]], dtype=object)
    a_norm = np.array([normalise_text(v) for v in plays[ARTIST_NAME]], dtype=object)
    t_norm = np.array([normalise_text(v) for v in plays[TRACK_NAME]], dtype=object)
    key = np.array([f"uri:{u}" if u is not None else f"at:{a}\x1f{t}" for u, a, t in zip(uri_id, a_norm, t_norm)],
                   dtype=object)
    first = ~pd.Series(key).duplicated().to_numpy()
    text = {c: np.array([v if isinstance(v, str) else None for v in plays[c]], dtype=object)
            for c in (TRACK_NAME, ARTIST_NAME, ALBUM_NAME)}
    resolved: dict[str, str] = {}
    n_uri = n_title = 0
    new_rows = []
    by_uri: dict[str, str] = {}
    by_title: dict[tuple[str, str], str] = {}
    cat_ids: set[str] = set()
    if catalog is not None:
        ids = catalog[S.TRACK].astype(str).to_numpy()
        cat_ids = set(ids)
        for col in ("spotify_track_uri", "uri"):
            if col in catalog.columns:
                for tid, u in zip(ids, catalog[col].map(track_uri_id)):
                    if u is not None:
                        by_uri.setdefault(u, tid)
        if "artist" in catalog.columns and "title" in catalog.columns:
            for tid, a, t in zip(ids, catalog["artist"].map(normalise_text), catalog["title"].map(normalise_text)):
                if a and t:
                    by_title.setdefault((a, t), tid)
    cols = zip(key[first], uri_id[first], a_norm[first], t_norm[first], text[TRACK_NAME][first],
               text[ARTIST_NAME][first], text[ALBUM_NAME][first])
    for k, uri, a, t, title, artist, album in cols:
        tid = None
        if uri is not None:
            tid = by_uri.get(uri)
            if tid is None and f"spotify:{uri}" in cat_ids:
                tid = f"spotify:{uri}"
            n_uri += tid is not None
        if tid is None and a and t:
            tid = by_title.get((a, t))
            n_title += tid is not None
        if tid is None:
            tid = f"spotify:{uri}" if uri is not None else _local_id(a, t)
            if catalog is not None and tid not in cat_ids:
                new_rows.append({S.TRACK: tid, "title": title, "artist": artist, "album": album,
                                 "spotify_track_uri": f"spotify:track:{uri}" if uri else None})
                cat_ids.add(tid)
                if a and t:
                    by_title.setdefault((a, t), tid)
        resolved[k] = tid
    n_tracks = int(first.sum())
    track_ids = pd.Series([resolved[k] for k in key], index=plays.index, dtype=object)
    stats = {"matched_tracks": n_uri + n_title, "unmatched_tracks": n_tracks - n_uri - n_title,
             "matched_by_uri": n_uri, "matched_by_title": n_title}
    return track_ids, pd.DataFrame(new_rows), stats


def _append_catalog(catalog: pd.DataFrame, new: pd.DataFrame, parquet: bool) -> pd.DataFrame:
    new = new.copy()
    if "album" not in catalog.columns:
        new = new.drop(columns="album")
    if "spotify_track_uri" not in catalog.columns and "uri" in catalog.columns:
        new = new.rename(columns={"spotify_track_uri": "uri"})
    catalog = catalog.copy()
    if HAS_CONTENT not in catalog.columns:
        catalog[HAS_CONTENT] = True if parquet else "True"
    new[HAS_CONTENT] = False if parquet else "False"
    for col in new.columns:
        if col not in catalog.columns:
            catalog[col] = None
    if not parquet:
        new = new.astype(object).where(new.notna(), None)
    return pd.concat([catalog, new.reindex(columns=catalog.columns)], ignore_index=True)


def import_spotify(paths, workdir, *, user: str | None = None) -> dict:
    """Add one person's Spotify plays to a workdir as a user, so they get recommendations
    learned from everyone in it.

    Parameters
    ----------
    paths : path or iterable of paths
        Spotify streaming history JSON files (or a directory of them).
    workdir : path
        A trackrec workdir with ``data/sessions.csv|parquet`` (and usually ``data/catalog.*``).
    user : str, optional
        The user id to give these plays; default ``spotify-<username>`` when the export names the
        account, else ``spotify-user``.

    Returns
    -------
    dict
        ``user_id``; ``plays`` (plays appended now); ``rows_read``; ``matched_tracks``,
        ``unmatched_tracks``, ``matched_by_uri``, ``matched_by_title`` (distinct tracks of the
        export's music plays); ``matched_plays``, ``unmatched_plays``; ``new_catalog_tracks``
        (added now); ``skipped_rows`` {reason: n} (incl. plays already imported before);
        ``files``, ``catalog``, ``sessions`` paths; ``notes``.

    Matching: Spotify URI against the catalogue's ``spotify_track_uri`` or ``uri`` column, else
    (artist, title) compared case-, width- and whitespace-insensitively against ``artist`` /
    ``title``. Unmatched tracks become catalogue rows ``spotify:<id>`` (``spotify-local:<hash>``
    without a URI) with ``has_content`` False and empty feature columns. Both files are rewritten
    atomically; existing CSV values are kept byte for byte as text.
    """
    from ..persistence.workdir import Workdir

    wd = Workdir(workdir)
    if not wd.root.is_dir():
        raise DataError("workdir not found", path=str(wd.root))
    s_path, c_path = wd.sessions_path, wd.catalog_path
    if not s_path.exists():
        raise DataError(f"no sessions file in the workdir; import adds a listener to an existing setup: "
                        f"run 'trackrec generate --workdir {wd.root}' first", path=str(s_path))
    if user is not None:
        user = user.strip()
        if not user:
            raise DataError("--user must not be empty")
    plays = read_spotify_history(paths)
    skipped = dict(plays.attrs.get("skipped_rows", {}))
    notes: list[str] = []
    uid = user or _user_from_export(plays)
    if len(plays) == 0:
        raise DataError(f"no music plays in the export ({', '.join(f'{n} {r}' for r, n in skipped.items())})",
                        path=", ".join(plays.attrs.get("files", [])))

    c_parquet = c_path.suffix.lower() in (".parquet", ".pq")
    catalog = _read_frame(c_path) if c_path.exists() else None
    if catalog is None:
        notes.append("no catalogue in the workdir: tracks were not matched or added to one")
    elif S.TRACK not in catalog.columns:
        raise DataError(f"missing required column '{S.TRACK}'", path=str(c_path))
    track_ids, new_tracks, stats = _match(plays, catalog)
    in_cat = track_ids.isin(set(catalog[S.TRACK].astype(str))) if catalog is not None else \
        pd.Series(False, index=track_ids.index)
    new_ids = set(new_tracks[S.TRACK]) if len(new_tracks) else set()
    matched_play = ~track_ids.isin(new_ids) & in_cat

    # Sessions: new rows, minus those already there (same user, track, time).
    sessions = _read_frame(s_path)
    s_parquet = s_path.suffix.lower() in (".parquet", ".pq")
    for col in (S.USER, S.TRACK):
        if col not in sessions.columns:
            raise DataError(f"missing required column '{col}'", path=str(s_path))
    if S.PLAYED_AT not in sessions.columns:
        raise DataError("the sessions file has no played_at column, so timestamped Spotify plays cannot be "
                        "merged into it without losing the re-import check", path=str(s_path))
    new = pd.DataFrame({S.USER: uid, S.TRACK: track_ids.to_numpy(), S.PLAYED_AT: plays[TS].to_numpy(),
                        S.MS_PLAYED: plays[MS].to_numpy(), S.SKIPPED: plays[S.SKIPPED].to_numpy()})
    new = new.drop_duplicates([S.USER, S.TRACK, S.PLAYED_AT])  # same track, same second, e.g. merged ids
    mine = sessions[sessions[S.USER].astype(str) == uid]
    if len(mine):
        old = pd.MultiIndex.from_arrays([mine[S.TRACK].astype(str).to_numpy(),
                                         parse_timestamps(mine[S.PLAYED_AT]).to_numpy()])
        seen = pd.MultiIndex.from_arrays([new[S.TRACK].to_numpy(), new[S.PLAYED_AT].to_numpy()]).isin(old)
        if seen.any():
            skipped[R_ALREADY] = int(seen.sum())
        new = new[~seen]
    new_tracks = new_tracks[new_tracks[S.TRACK].isin(set(new[S.TRACK]))] if len(new_tracks) else new_tracks

    if len(new_tracks) and catalog is not None:
        _write_frame(_append_catalog(catalog, new_tracks, c_parquet), c_path)
    if len(new):
        out = new.copy()
        if S.WEIGHT in sessions.columns:
            out[S.WEIGHT] = 1.0
        if s_parquet:
            if pd.api.types.is_datetime64_any_dtype(sessions[S.PLAYED_AT]):
                out[S.PLAYED_AT] = out[S.PLAYED_AT].astype(sessions[S.PLAYED_AT].dtype)
            else:
                out[S.PLAYED_AT] = out[S.PLAYED_AT].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            if S.MS_PLAYED in sessions.columns and pd.api.types.is_integer_dtype(sessions[S.MS_PLAYED]) \
                    and out[S.MS_PLAYED].notna().all():
                out[S.MS_PLAYED] = out[S.MS_PLAYED].astype(sessions[S.MS_PLAYED].dtype)
        else:
            out[S.PLAYED_AT] = out[S.PLAYED_AT].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            out[S.MS_PLAYED] = out[S.MS_PLAYED].map(lambda v: "" if pd.isna(v) else str(int(v)) if v == int(v) else str(v))
            out[S.SKIPPED] = out[S.SKIPPED].map(lambda v: "True" if v else "False")
            out = out.astype(object)
        for col in out.columns:
            if col not in sessions.columns:
                sessions[col] = None if not s_parquet else (False if col == S.SKIPPED else np.nan)
                notes.append(f"added column '{col}' to {s_path.name} (empty for earlier rows)")
        merged = pd.concat([sessions, out.reindex(columns=sessions.columns)], ignore_index=True)
        _write_frame(merged, s_path)

    return {
        "user_id": uid,
        "plays": int(len(new)),
        "rows_read": int(plays.attrs.get("rows_read", len(plays))),
        **stats,
        "matched_plays": int(matched_play.sum()),
        "unmatched_plays": int((~matched_play).sum()),
        "new_catalog_tracks": int(len(new_tracks)) if catalog is not None else 0,
        "skipped_rows": skipped,
        "files": plays.attrs.get("files", []),
        "catalog": str(c_path) if catalog is not None else None,
        "sessions": str(s_path),
        "notes": notes,
    }
