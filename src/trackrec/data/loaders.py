"""Read catalogues and listening sessions from CSV/TSV/Parquet, validated up front.

Structural problems (missing or unreadable file, missing column, empty file) raise
:class:`~trackrec.exceptions.DataError`. Row-level problems (unparseable timestamp, empty id,
bad number, duplicate row) follow ``on_bad_rows``: ``"skip"`` drops them and records them in a
:class:`LoadReport` (counted, with the first examples), ``"error"`` raises on the first one.
Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DataError
from . import schema as S

log = logging.getLogger(__name__)

BAD_ROW_POLICIES = ("skip", "error")
_MAX_EXAMPLES = 3
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


@dataclass
class LoadReport:
    """What a loader kept, and every row it dropped with the reason."""

    path: str
    rows_read: int = 0
    rows_kept: int = 0
    problems: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, problem: str, lines: np.ndarray, values: np.ndarray | None = None) -> None:
        if len(lines) == 0:
            return
        self.problems[problem] = self.problems.get(problem, 0) + int(len(lines))
        ex = self.examples.setdefault(problem, [])
        for i in range(min(_MAX_EXAMPLES - len(ex), len(lines))):
            ex.append(f"line {int(lines[i])}" + (f" ({values[i]!r})" if values is not None else ""))

    @property
    def rows_dropped(self) -> int:
        return self.rows_read - self.rows_kept

    def summary(self) -> str:
        """One line per problem, e.g. ``sessions.csv: skipped 3 rows with unparseable played_at (line 5 ('yesterday'), ...)``."""
        out = []
        for problem, n in self.problems.items():
            out.append(f"{self.path}: skipped {n} row(s) with {problem} ({', '.join(self.examples[problem])})")
        out.extend(f"{self.path}: {note}" for note in self.notes)
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {"path": self.path, "rows_read": self.rows_read, "rows_kept": self.rows_kept,
                "problems": dict(self.problems), "examples": dict(self.examples), "notes": list(self.notes)}


def _check_policy(on_bad_rows: str) -> None:
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise ValueError(f"on_bad_rows must be one of {BAD_ROW_POLICIES}, got {on_bad_rows!r}")


def _unescape_sep(sep: str | None) -> str | None:
    if sep is None:
        return None
    return {"\\t": "\t", "tab": "\t", "\\s+": r"\s+", " ": r"\s+"}.get(sep, sep)


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int] | None:
    """(1-based line, byte offset in the file) of the first byte ``encoding`` cannot decode."""
    import codecs
    dec = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with open(path, "rb") as f:
        for i, line in enumerate(f, 1):
            try:
                dec.decode(line)
            except UnicodeDecodeError as exc:
                return i, offset + exc.start
            offset += len(line)
    return None


def read_table(path: str | Path, *, sep: str | None = None, header: bool = True,
               columns: list[str] | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV/TSV/Parquet file with every column as strings (ids never become floats).

    ``sep=None`` picks ``\\t`` for ``.tsv``/``.dat`` and ``,`` otherwise; ``' '`` means any run of
    whitespace. ``columns`` names the file's columns in order (``_`` skips one); it is required
    with ``header=False`` and renames the header's columns otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=str(path))
    if path.is_dir():
        raise DataError("is a directory, expected a CSV/TSV/Parquet file", path=str(path))
    if path.stat().st_size == 0:
        raise DataError("file is empty", path=str(path))
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types
            raise DataError(f"cannot read as Parquet ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                            path=str(path)) from None
        df = df.astype({c: "string" for c in df.columns if not pd.api.types.is_datetime64_any_dtype(df[c])})
        df = df.astype({c: object for c in df.columns if str(df[c].dtype) == "string"})
        df = df.where(df.notna(), None) if len(df) else df
    else:
        if sep is None:
            sep = "\t" if suffix in (".tsv", ".dat", ".tab") else ","
        sep = _unescape_sep(sep)
        if header is False and not columns:
            raise DataError("--no-header needs --columns to name the file's columns", path=str(path))
        # Multi-character separators (e.g. MovieLens' "::") need the python engine, which reads
        # them as regular expressions: escape them (only the whitespace run stays a regex).
        multi = len(sep) > 1
        try:
            df = pd.read_csv(path, sep=re.escape(sep) if multi and sep != r"\s+" else sep,
                             header=0 if header else None, dtype=str,
                             keep_default_na=False, na_values=[""], encoding=encoding,
                             engine="python" if multi else "c",
                             quoting=csv.QUOTE_MINIMAL, skipinitialspace=False)
        except LookupError:
            raise DataError(f"unknown encoding {encoding!r}", path=str(path)) from None
        except UnicodeDecodeError as exc:
            where = _first_undecodable(path, encoding)  # pandas' offset is relative to a chunk
            line, byte = where if where else (None, exc.start)
            raise DataError(f"not valid {encoding} text (byte {byte}); pass the file's encoding",
                            path=str(path), line=line) from None
        except pd.errors.EmptyDataError:
            raise DataError("file is empty", path=str(path)) from None
        except pd.errors.ParserError as exc:
            raise DataError(f"cannot parse as delimited text with separator {sep!r}: "
                            f"{str(exc).strip().splitlines()[-1]}", path=str(path)) from None
    if columns:
        if len(columns) != df.shape[1]:
            raise DataError(f"--columns names {len(columns)} column(s) but the file has {df.shape[1]} "
                            f"(separator {sep!r}?)", path=str(path))
        df.columns = list(columns)
        df = df[[c for c in columns if c != "_"]]
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise DataError("file has a header but no data rows", path=str(path))
    return df


def _require(df: pd.DataFrame, required: tuple[str, ...], path: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        found = ", ".join(map(str, df.columns[:8])) + (", ..." if df.shape[1] > 8 else "")
        hint = ""
        if df.shape[1] == 1 and any(s in str(df.columns[0]) for s in ("\t", ";", ",", "|")):
            hint = " (wrong separator? pass --sep)"
        raise DataError(f"missing required column '{missing[0]}'; found columns: {found}{hint}", path=path)


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse ISO 8601 (with or without offset; naive means UTC) or epoch seconds/milliseconds.

    Returns ``datetime64[ns, UTC]`` with ``NaT`` where a value is none of these.
    """
    s = values.astype(object)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_any_dtype(values):
        v = pd.to_datetime(values)
        return v.dt.tz_localize("UTC") if v.dt.tz is None else v.dt.tz_convert("UTC")
    str_vals = s.astype(str).str.strip()
    num = pd.to_numeric(str_vals.where(s.notna()), errors="coerce")
    is_num = num.notna()
    if is_num.any():
        n = num[is_num]
        ms = n.abs() >= 1e11  # epoch seconds stay below 1e11 until the year 5138
        vals = np.where(ms, n, n * 1000.0)
        out.loc[is_num] = pd.to_datetime(vals, unit="ms", utc=True, errors="coerce")
    rest = ~is_num & s.notna()
    if rest.any():
        parsed = pd.to_datetime(str_vals[rest], format="ISO8601", utc=True, errors="coerce")
        out.loc[rest] = parsed
    return out


def _parse_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    low = values.astype(str).str.strip().str.lower().where(values.notna(), "")
    ok = low.isin(_TRUE | _FALSE)
    return low.isin(_TRUE), ~ok


def _line_numbers(mask: pd.Series, offset: int) -> np.ndarray:
    return np.flatnonzero(mask.to_numpy()) + offset


def read_sessions(path: str | Path, *, on_bad_rows: str = "skip", sep: str | None = None,
                  header: bool = True, columns: list[str] | None = None, encoding: str = "utf-8",
                  require_timestamps: bool = False) -> tuple[pd.DataFrame, LoadReport]:
    """Read a listening log into the canonical frame.

    Columns out: ``user_id``, ``track_id`` (str), ``played_at`` (UTC, may be NaT only when the file
    has no timestamps at all), ``ms_played`` (float, NaN = unknown), ``skipped`` (bool),
    ``weight`` (float, plays this row stands for; 1 unless the file has a ``weight`` column).
    Only ``user_id`` and ``track_id`` are required; without ``played_at`` evaluation falls back to
    a seeded random split.
    """
    _check_policy(on_bad_rows)
    p = str(path)
    df = read_table(path, sep=sep, header=header, columns=columns, encoding=encoding)
    _require(df, (S.USER, S.TRACK) + ((S.PLAYED_AT,) if require_timestamps else ()), p)
    report = LoadReport(path=p, rows_read=len(df))
    offset = 2 if header else 1
    bad = pd.Series(False, index=df.index)

    def flag(mask: pd.Series, problem: str, column: str, values: pd.Series | None = None) -> None:
        nonlocal bad
        mask = mask & ~bad
        if not mask.any():
            return
        lines = _line_numbers(mask, offset)
        vals = values[mask].to_numpy() if values is not None else None
        if on_bad_rows == "error":
            shown = f" {vals[0]!r}" if vals is not None else ""
            raise DataError(f"{problem}{shown}", path=p, line=int(lines[0]), column=column)
        report.add(problem, lines, vals)
        bad = bad | mask

    out = pd.DataFrame(index=df.index)
    for col in (S.USER, S.TRACK):
        v = df[col].astype(object).where(df[col].notna(), None)
        v = v.map(lambda x: x.strip() if isinstance(x, str) else x)
        flag(v.isna() | (v == ""), f"empty {col}", col)
        out[col] = v
    if S.PLAYED_AT in df.columns:
        ts = parse_timestamps(df[S.PLAYED_AT])
        flag(ts.isna(), "unparseable played_at (expected ISO 8601 or epoch seconds/ms)", S.PLAYED_AT,
             df[S.PLAYED_AT])
        out[S.PLAYED_AT] = ts
    else:
        out[S.PLAYED_AT] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
        report.notes.append("no played_at column: evaluation uses a seeded random split")
    if S.MS_PLAYED in df.columns:
        raw = df[S.MS_PLAYED]
        ms = pd.to_numeric(raw, errors="coerce")
        flag((raw.notna() & ms.isna()) | (ms < 0), "bad ms_played (expected a number >= 0)", S.MS_PLAYED, raw)
        out[S.MS_PLAYED] = ms.astype(float)
    else:
        out[S.MS_PLAYED] = np.nan
    if S.SKIPPED in df.columns:
        sk, sk_bad = _parse_bool(df[S.SKIPPED])
        flag(sk_bad, "bad skipped (expected true/false/1/0)", S.SKIPPED, df[S.SKIPPED])
        out[S.SKIPPED] = sk.astype(bool)
    else:
        out[S.SKIPPED] = False
    if S.WEIGHT in df.columns:
        raw = df[S.WEIGHT]
        w = pd.to_numeric(raw, errors="coerce")
        flag(w.isna() | (w <= 0), "bad weight (expected a number > 0)", S.WEIGHT, raw)
        out[S.WEIGHT] = w.astype(float)
    else:
        out[S.WEIGHT] = 1.0
    keep_cols = [S.USER, S.TRACK, S.PLAYED_AT, S.MS_PLAYED, S.SKIPPED, S.WEIGHT]
    dup = out.duplicated(keep_cols, keep="first") & ~bad
    if dup.any():
        flag(dup, "duplicate row (same user, track, time and values as an earlier row)", S.USER)
    out = out[~bad].reset_index(drop=True)
    report.rows_kept = len(out)
    if len(out) == 0:
        raise DataError(f"no usable rows ({report.summary() or 'all rows were dropped'})", path=p)
    if report.problems:
        log.warning("%s", report.summary())
    return out, report


def read_catalog(path: str | Path, *, on_bad_rows: str = "skip", sep: str | None = None,
                 encoding: str = "utf-8") -> tuple[pd.DataFrame, LoadReport]:
    """Read a track catalogue: ``track_id`` plus any descriptive and feature columns.

    Numeric-looking columns become floats (unparseable cells become missing and are reported);
    text columns stay strings; missing values are kept as missing (the track encoder imputes).
    """
    _check_policy(on_bad_rows)
    p = str(path)
    df = read_table(path, sep=sep, encoding=encoding)
    _require(df, S.CATALOG_REQUIRED, p)
    df, report = validate_catalog(df, p, on_bad_rows=on_bad_rows)
    if report.problems or report.notes:
        log.warning("%s", report.summary())
    return df, report


def validate_catalog(df: pd.DataFrame, path: str, *, on_bad_rows: str = "skip") -> tuple[pd.DataFrame, LoadReport]:
    """Row checks of a catalogue read as strings (shared by the local and Spark loaders): empty
    and duplicate track ids (skipped and reported, or an error), numeric-looking columns to
    floats (unparseable cells become missing and are reported), ``explicit`` to bool."""
    p = path
    report = LoadReport(path=p, rows_read=len(df))
    ids = df[S.TRACK].astype(object).map(lambda x: x.strip() if isinstance(x, str) else x)
    empty = ids.isna() | (ids == "")
    dup = ids.duplicated(keep="first") & ~empty
    for mask, problem in ((empty, "empty track_id"), (dup, "duplicate track_id")):
        if mask.any():
            lines = _line_numbers(mask, 2)
            vals = ids[mask].to_numpy()
            if on_bad_rows == "error":
                raise DataError(problem + (f" {vals[0]!r}" if problem.startswith("dup") else ""),
                                path=p, line=int(lines[0]), column=S.TRACK)
            report.add(problem, lines, vals if problem.startswith("dup") else None)
    df = df.assign(**{S.TRACK: ids})[~(empty | dup)].reset_index(drop=True)
    for col in df.columns:
        if col == S.TRACK or col in S.DESCRIPTIVE_COLUMNS or col in S.CATEGORICAL_FEATURES:
            continue
        if col == "explicit":
            df[col], _ = _parse_bool(df[col])
            continue
        present = df[col].notna()
        num = pd.to_numeric(df[col], errors="coerce")
        parsed = num.notna()
        if present.sum() and parsed.sum() >= 0.95 * present.sum():
            unparsed = present & ~parsed
            if unparsed.any():
                report.notes.append(f"column '{col}': {int(unparsed.sum())} non-numeric value(s) treated as "
                                    f"missing (first at line {int(_line_numbers(unparsed, 2)[0])}: "
                                    f"{df[col][unparsed].iloc[0]!r})")
            df[col] = num.astype(float)
    report.rows_kept = len(df)
    if len(df) == 0:
        raise DataError("no usable rows", path=p)
    return df, report
