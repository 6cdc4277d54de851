"""HetRec 2011 Last.fm 2K (``lastfm-hetrec2011``): users x artists play counts, artist content
from user tags.

Artists play the role of tracks. ``load_lastfm_hetrec(data_dir)`` returns the canonical frames:

* **sessions** (from ``user_artists.dat``): one row per (user, artist) with ``weight`` = the
  user's play count, ``played_at`` = NaT (the dataset has no listening times, so evaluation uses
  the seeded random split), ``ms_played`` = NaN (unknown length counts as a full play),
  ``skipped`` = False.
* **catalogue** (from ``artists.dat``): one row per artist with ``track_id``, ``title`` and
  ``artist`` (both the artist's name), ``url``, ``top_tags`` (the 5 most used tags, for people),
  ``emb_00 .. emb_NN`` and ``has_content``.

Content embedding: an artists x tags matrix counting how many users applied each tag to each
artist (``user_taggedartists.dat``; tags merged by normalised text from ``tags.dat``), TF-IDF
weighted (sublinear tf, smooth idf), reduced with ``TruncatedSVD`` and L2-normalised per artist.
Tags are content, not interactions, so all of them are used (no leakage into evaluation).

Artists nobody tagged (about 30 %) have **no content**: their ``emb_*`` values are NaN and
``has_content`` is False. NaN never crashes the track encoder (it median-imputes, so such an
artist looks like an "average artist"); the ``has_content`` column says which rows are real
content so that the dataset can leave them out of content models (a boolean column is never a
feature itself). Collaborative models use every artist either way.

Quirks handled (see the dataset's README): ``tags.dat`` is Latin-1 (the others UTF-8/ASCII),
artist names contain ``"`` (read with ``quoting=csv.QUOTE_NONE``), CRLF and LF line endings,
390 tagged artist ids absent from ``artists.dat`` (ignored). Malformed files (missing directory
or file, wrong separator, missing column, bad encoding, empty file, non-integer id) raise a
one-line :class:`~trackrec.exceptions.DataError` naming the file, and the line/column where it
applies.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import DataError
from . import schema as S

__all__ = ["DATASET_NAME", "FILES", "load_lastfm_hetrec", "HAS_CONTENT"]

log = logging.getLogger(__name__)

DATASET_NAME = "lastfm-hetrec2011"
#: Catalogue column saying whether a row has content features (False: embedding values are NaN).
HAS_CONTENT = "has_content"

#: file -> (encoding, required columns)
FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "user_artists.dat": ("utf-8", ("userID", "artistID", "weight")),
    "artists.dat": ("utf-8", ("id", "name")),
    "tags.dat": ("latin-1", ("tagID", "tagValue")),
    "user_taggedartists.dat": ("utf-8", ("userID", "artistID", "tagID")),
}
_TOP_TAGS = 5


def _read_dat(path: Path, encoding: str, required: tuple[str, ...]) -> pd.DataFrame:
    """Read one tab-separated HetRec file as strings; every problem is a one-line DataError."""
    p = str(path)
    if not path.exists():
        raise DataError(f"file not found (part of the HetRec Last.fm 2K dataset '{DATASET_NAME}')", path=p)
    if path.is_dir():
        raise DataError("is a directory, expected a tab-separated .dat file", path=p)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("file is empty", path=p)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"not valid {encoding} text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                        f"the HetRec file {path.name} is {encoding}-encoded - was it re-encoded?",
                        path=p, line=line) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        df = pd.read_csv(io.StringIO(text), sep="\t", dtype=object, quoting=csv.QUOTE_NONE,
                         keep_default_na=False, na_values=[""], engine="c")
    except pd.errors.EmptyDataError:
        raise DataError("file is empty", path=p) from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1]
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise DataError(f"expected {m.group(1)} tab-separated fields, found {m.group(3)} "
                            f"(stray tab in a value?)", path=p, line=int(m.group(2))) from None
        raise DataError(f"cannot parse as tab-separated text: {msg}", path=p) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        found = ", ".join(map(str, df.columns[:8])) + (", ..." if df.shape[1] > 8 else "")
        hint = ""
        if df.shape[1] == 1:
            hint = " (wrong separator? the HetRec files are tab-separated)"
        raise DataError(f"missing required column '{missing[0]}'; expected {', '.join(required)}; "
                        f"found columns: {found}{hint}", path=p)
    if len(df) == 0:
        raise DataError("file has a header but no data rows", path=p)
    return df


def _int_column(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    """Parse an integer column; the first bad value is a DataError naming line and column."""
    try:
        return df[col].astype(np.int64).to_numpy()
    except (TypeError, ValueError, OverflowError):
        pass  # find and name the first bad value
    s = df[col].map(lambda v: v.strip() if isinstance(v, str) else v)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() | (num != np.floor(num))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"expected an integer, got {df[col].iloc[i]!r}", path=str(path), line=i + 2, column=col)
    return num.to_numpy(dtype=np.int64)


def _norm_tag(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _tag_embeddings(artist_ids: np.ndarray, uta: pd.DataFrame, tags: pd.DataFrame, data_dir: Path, *,
                    n_components: int, random_state: int) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    """(embeddings with NaN rows for untagged artists, has_content mask, top tags text, stats)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer
    from threadpoolctl import threadpool_limits

    uta_path = data_dir / "user_taggedartists.dat"
    a = _int_column(uta, "artistID", uta_path)
    t = _int_column(uta, "tagID", uta_path)
    tag_ids = _int_column(tags, "tagID", data_dir / "tags.dat")
    # Merge tags by normalised text ("Rock" / "rock " are one tag); unknown tag ids stay separate.
    names = tags["tagValue"].map(_norm_tag).to_numpy(dtype=object)
    vocab, tag_col = np.unique(names, return_inverse=True)
    tag_map = pd.Series(tag_col, index=tag_ids)
    tag_map = tag_map[~tag_map.index.duplicated()]
    col = tag_map.reindex(t).to_numpy()
    unknown_tag = np.isnan(col)
    if unknown_tag.any():
        extra, extra_col = np.unique(t[unknown_tag], return_inverse=True)
        col[unknown_tag] = len(vocab) + extra_col
        vocab = np.concatenate([vocab, np.array([f"tag#{x}" for x in extra], dtype=object)])
    col = col.astype(np.int64)
    row = pd.Index(artist_ids).get_indexer(a)
    known = row >= 0
    n_art = len(artist_ids)
    counts = sp.csr_matrix((np.ones(int(known.sum()), np.float32), (row[known], col[known])),
                           shape=(n_art, len(vocab)), dtype=np.float32)
    counts.sum_duplicates()
    # Drop empty-text tags and tags on a single artist (no similarity signal, only noise).
    df_art = np.asarray((counts > 0).sum(axis=0)).ravel()
    keep = (df_art >= 2) & (vocab != "")
    counts = counts[:, keep]
    has = np.asarray(counts.sum(axis=1)).ravel() > 0
    stats = {"tag_assignments": int(len(uta)), "tag_assignments_unknown_artist": int((~known).sum()),
             "tags": int(keep.sum()), "artists_with_tags": int(has.sum()),
             "unknown_tag_ids": int(unknown_tag.sum())}
    emb = np.full((n_art, 0), np.nan, np.float32)
    top = [""] * n_art
    if has.sum() >= 2 and counts.shape[1] >= 2:
        tfidf = TfidfTransformer(sublinear_tf=True, smooth_idf=True, norm="l2").fit_transform(counts[has])
        k = int(min(n_components, tfidf.shape[1] - 1, tfidf.shape[0] - 1))
        if k < n_components:
            log.warning("%s: only %d embedding dimensions possible (asked for %d)", data_dir, k, n_components)
        # ARPACK: exact, deterministic for a seed (its start vector), and the fastest here. Its
        # many tiny BLAS calls only lose from threading (5x slower on a busy 2-core machine).
        with threadpool_limits(limits=1):
            z = TruncatedSVD(n_components=k, algorithm="arpack", random_state=random_state).fit_transform(tfidf)
        norm = np.linalg.norm(z, axis=1)
        nz = norm > 1e-12  # an all-zero projection carries no content either
        emb = np.full((n_art, k), np.nan, np.float32)
        rows = np.flatnonzero(has)
        emb[rows[nz]] = (z[nz] / norm[nz, None]).astype(np.float32)
        has[rows[~nz]] = False
        stats["embedding_dims"] = k
        stats["artists_with_tags"] = int(has.sum())
    else:
        has = np.zeros(n_art, bool)
    # Top tags per artist (descriptive text for people, not a feature).
    kept_vocab = vocab[keep]
    c = counts.tocsr()
    for i in np.flatnonzero(has):
        lo, hi = c.indptr[i], c.indptr[i + 1]
        order = np.lexsort((c.indices[lo:hi], -c.data[lo:hi]))[:_TOP_TAGS]
        top[i] = ", ".join(kept_vocab[c.indices[lo:hi][order]])
    return emb, has, top, stats


def load_lastfm_hetrec(data_dir: str | Path, *, n_components: int = 32,
                       random_state: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load HetRec Last.fm 2K as ``(sessions, catalog)`` canonical frames (artists as tracks).

    Parameters
    ----------
    data_dir : str or Path
        Directory holding ``user_artists.dat``, ``artists.dat``, ``tags.dat`` and
        ``user_taggedartists.dat`` as distributed by GroupLens.
    n_components : int
        Dimensions of the tag embedding (``emb_00`` ...); fewer when the tag matrix is smaller.
    random_state : int
        Seed of the randomized SVD (same seed, same embedding).

    Returns
    -------
    sessions : DataFrame
        ``user_id, track_id, played_at (NaT), ms_played (NaN), skipped (False), weight`` (play count).
    catalog : DataFrame
        ``track_id, title, artist, url, top_tags, emb_00.., has_content``; ``catalog.attrs["lastfm"]``
        holds load statistics.
    """
    if not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    t0 = time.perf_counter()
    d = Path(data_dir)
    if not d.exists():
        raise DataError(f"data directory not found (expected the HetRec Last.fm 2K files: "
                        f"{', '.join(FILES)})", path=str(d))
    if not d.is_dir():
        raise DataError("not a directory (pass the folder holding the HetRec Last.fm 2K .dat files)", path=str(d))
    frames = {name: _read_dat(d / name, enc, req) for name, (enc, req) in FILES.items()}

    # --- sessions ---------------------------------------------------------------------------
    ua = frames["user_artists.dat"]
    ua_path = d / "user_artists.dat"
    users = _int_column(ua, "userID", ua_path)
    arts = _int_column(ua, "artistID", ua_path)
    w = pd.to_numeric(ua["weight"], errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(w) | (w <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"expected a play count > 0, got {ua['weight'].iloc[i]!r}", path=str(ua_path),
                        line=i + 2, column="weight")
    n = len(ua)
    sessions = pd.DataFrame({
        S.USER: users.astype(str).astype(object),
        S.TRACK: arts.astype(str).astype(object),
        S.PLAYED_AT: pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
        S.MS_PLAYED: np.full(n, np.nan),
        S.SKIPPED: np.zeros(n, bool),
        S.WEIGHT: w,
    })
    dup = sessions.duplicated([S.USER, S.TRACK])
    if dup.any():  # not in the published data; merge rather than double-count a pair
        sessions = sessions.groupby([S.USER, S.TRACK], as_index=False, sort=False).agg(
            {S.PLAYED_AT: "first", S.MS_PLAYED: "first", S.SKIPPED: "first", S.WEIGHT: "sum"})

    # --- catalogue --------------------------------------------------------------------------
    art = frames["artists.dat"]
    art_path = d / "artists.dat"
    ids = _int_column(art, "id", art_path)
    dup_ids = pd.Index(ids).duplicated()
    if dup_ids.any():
        i = int(np.flatnonzero(dup_ids)[0])
        raise DataError(f"duplicate artist id {art['id'].iloc[i]!r}", path=str(art_path), line=i + 2, column="id")
    emb, has, top, stats = _tag_embeddings(ids, frames["user_taggedartists.dat"], frames["tags.dat"], d,
                                           n_components=int(n_components), random_state=random_state)
    name = art["name"].map(lambda v: v.strip() if isinstance(v, str) else "").to_numpy(dtype=object)
    cat = {S.TRACK: ids.astype(str).astype(object), "title": name, "artist": name}
    if "url" in art.columns:
        cat["url"] = art["url"].to_numpy(dtype=object)
    cat["top_tags"] = np.array(top, dtype=object)
    width = max(2, len(str(emb.shape[1] - 1)))
    for j in range(emb.shape[1]):
        cat[f"emb_{j:0{width}d}"] = emb[:, j].astype(np.float64)
    cat[HAS_CONTENT] = has
    catalog = pd.DataFrame(cat)

    not_in_cat = ~np.isin(arts, ids)
    stats.update({"users": int(sessions[S.USER].nunique()), "artists": int(len(catalog)),
                  "pairs": int(len(sessions)), "pairs_not_in_catalog": int(not_in_cat.sum()),
                  "duplicate_pairs_merged": int(dup.sum()), "seconds": round(time.perf_counter() - t0, 3)})
    catalog.attrs["lastfm"] = stats
    log.info("loaded %s from %s: %s", DATASET_NAME, d, stats)
    return sessions.reset_index(drop=True), catalog
