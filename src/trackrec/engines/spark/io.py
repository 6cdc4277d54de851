"""Read session logs and the catalogue with Spark, under the local loaders' rules and messages.

Every column is read as a string (CSV: header names, no schema inference; Parquet: columns cast
to string), so ``"007"`` and ``"7"`` stay two ids. The sessions frame that comes out has the
local canonical columns ``user_id, track_id, played_at (UTC timestamp), ms_played (double),
skipped (boolean), weight (double)``. Row-level problems follow ``on_bad_rows`` exactly like
:func:`trackrec.data.loaders.read_sessions`: ``skip`` drops and counts them in a
:class:`~trackrec.data.loaders.LoadReport` (with the first examples), ``error`` raises a
:class:`~trackrec.exceptions.DataError` naming the file, line, column and value.

The catalogue (tracks, not plays) is small and travels inside the model artefact, so after the
Spark read it is brought to the driver and typed with the local loader's rules.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from ...data import schema as S
from ...data.loaders import LoadReport, _check_policy, _require, validate_catalog
from ...exceptions import DataError
from .session import spark_errors

log = logging.getLogger(__name__)

__all__ = ["read_sessions_spark", "read_catalog_spark", "read_raw"]

_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f", "")
_TS_PROBLEM = "unparseable played_at (expected ISO 8601 or epoch seconds/ms)"
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def _is_local(path: str) -> bool:
    return not _URI.match(path) or path.startswith("file://")


def _format_of(path: str) -> str:
    p = path.rstrip("/").lower()
    if p.endswith((".parquet", ".pq")):
        return "parquet"
    if p.endswith((".tsv", ".dat", ".tab")):
        return "tsv"
    if _is_local(path) and Path(path).is_dir():
        files = [f for f in Path(path).iterdir() if not f.name.startswith(("_", "."))]
        if files and all(f.suffix.lower() in (".parquet", ".pq") for f in files):
            return "parquet"
    return "csv"


def read_raw(spark, path: str | Path):
    """A DataFrame of string columns (plus native timestamp columns of Parquet files).

    Local paths get the local loader's checks first (missing, empty); other URIs (HDFS, S3...)
    are left to Spark, whose errors are translated to one line.
    """
    p = str(path)
    from pyspark.sql import functions as F
    if _is_local(p):
        lp = Path(p[7:] if p.startswith("file://") else p)
        if not lp.exists():
            raise DataError("file not found", path=p)
        if lp.is_file() and lp.stat().st_size == 0:
            raise DataError("file is empty", path=p)
        p = str(lp.absolute())
    fmt = _format_of(p)
    with spark_errors(str(path)):
        if fmt == "parquet":
            try:
                df = spark.read.parquet(p)
            except Exception as exc:
                from .session import _first_line
                if "PATH_NOT_FOUND" in str(exc):
                    raise
                raise DataError(f"cannot read as Parquet ({_first_line(exc)})", path=str(path)) from None
            cols = []
            for f in df.schema.fields:
                if f.dataType.typeName() in ("timestamp", "timestamp_ntz"):
                    cols.append(F.col(f"`{f.name}`"))
                else:
                    cols.append(F.col(f"`{f.name}`").cast("string").alias(f.name))
            df = df.select(*cols)
        else:
            sep = "\t" if fmt == "tsv" else ","
            df = (spark.read.option("header", True).option("inferSchema", False).option("sep", sep)
                  .option("mode", "PERMISSIVE").option("encoding", "UTF-8").csv(p))
        df = df.toDF(*[str(c).strip() for c in df.columns])
        if df.limit(1).count() == 0:
            raise DataError("file has a header but no data rows", path=str(path))
    return df


def _fake(df) -> pd.DataFrame:
    return pd.DataFrame(columns=list(df.columns))


def read_sessions_spark(spark, path: str | Path, *, on_bad_rows: str = "skip"):
    """Sessions as a canonical Spark DataFrame and a :class:`LoadReport`.

    Mirrors :func:`trackrec.data.loaders.read_sessions`: required ``user_id``, ``track_id``;
    optional ``played_at``, ``ms_played``, ``skipped``, ``weight``; empty ids, unparseable
    timestamps, bad numbers or flags and exact duplicate rows are bad rows.
    """
    from pyspark.sql import functions as F
    _check_policy(on_bad_rows)
    p = str(path)
    raw = read_raw(spark, path)
    _require(_fake(raw), (S.USER, S.TRACK), p)
    types = {f.name: f.dataType.typeName() for f in raw.schema.fields}
    report = LoadReport(path=p)
    checks: list[tuple[str, str, object, object]] = []  # (problem, column, bad-condition, shown value)

    df = raw.select(*[F.col(f"`{c}`") for c in raw.columns])
    for col in (S.USER, S.TRACK):
        df = df.withColumn(f"__{col}", F.trim(F.col(col)))
        checks.append((f"empty {col}", col, F.col(f"__{col}").isNull() | (F.col(f"__{col}") == ""), None))
    if S.PLAYED_AT in raw.columns:
        if types[S.PLAYED_AT] in ("timestamp", "timestamp_ntz"):
            df = df.withColumn("__ts", F.col(S.PLAYED_AT).cast("timestamp"))
        else:
            s = F.trim(F.col(S.PLAYED_AT))
            c = f"trim(`{S.PLAYED_AT}`)"
            # epoch seconds stay below 1e11 until the year 5138; larger numbers are milliseconds.
            # pandas' datetime range ends near 9.2e12 ms: beyond it is unparseable locally too.
            ms = (f"CASE WHEN abs(try_cast({c} AS DOUBLE)) >= 1e11 THEN try_cast({c} AS DOUBLE) "
                  f"ELSE try_cast({c} AS DOUBLE) * 1000.0 END")
            epoch = F.expr(f"CASE WHEN abs({ms}) < 9.2e12 THEN timestamp_micros(try_cast(round(({ms}) * 1000.0) AS BIGINT)) END")
            is_num = F.expr(f"try_cast({c} AS DOUBLE) IS NOT NULL AND NOT isnan(try_cast({c} AS DOUBLE))")
            # Spark also casts 'now', 'today', 'yesterday', 'epoch'...: only digit-led strings are ISO.
            iso = F.when(s.rlike(r"^[+-]?\d{4}"), F.expr(f"try_cast({c} AS TIMESTAMP)"))
            df = df.withColumn("__ts", F.when(is_num, epoch).otherwise(iso))
        checks.append((_TS_PROBLEM, S.PLAYED_AT, F.col("__ts").isNull(), F.col(S.PLAYED_AT).cast("string")))
    else:
        df = df.withColumn("__ts", F.lit(None).cast("timestamp"))
        report.notes.append("no played_at column: evaluation uses a seeded random split")
    if S.MS_PLAYED in raw.columns:
        ms = F.expr(f"try_cast(trim(`{S.MS_PLAYED}`) AS DOUBLE)")
        df = df.withColumn("__ms", ms)
        checks.append(("bad ms_played (expected a number >= 0)", S.MS_PLAYED,
                       (F.col(S.MS_PLAYED).isNotNull() & F.col("__ms").isNull()) | (F.col("__ms") < 0),
                       F.col(S.MS_PLAYED)))
    else:
        df = df.withColumn("__ms", F.lit(None).cast("double"))
    if S.SKIPPED in raw.columns:
        low = F.coalesce(F.lower(F.trim(F.col(S.SKIPPED))), F.lit(""))
        df = df.withColumn("__sk", low.isin(*_TRUE))
        checks.append(("bad skipped (expected true/false/1/0)", S.SKIPPED, ~low.isin(*(_TRUE + _FALSE)),
                       F.col(S.SKIPPED)))
    else:
        df = df.withColumn("__sk", F.lit(False))
    if S.WEIGHT in raw.columns:
        w = F.expr(f"try_cast(trim(`{S.WEIGHT}`) AS DOUBLE)")
        df = df.withColumn("__w", w)
        checks.append(("bad weight (expected a number > 0)", S.WEIGHT, F.col("__w").isNull() | (F.col("__w") <= 0),
                       F.col(S.WEIGHT)))
    else:
        df = df.withColumn("__w", F.lit(1.0))

    # First failing check per row (the local loader reports a row under its first problem only).
    code = F.lit(None).cast("int")
    for i in reversed(range(len(checks))):
        code = F.when(F.coalesce(checks[i][2], F.lit(False)), F.lit(i)).otherwise(code)
    df = df.withColumn("__bad", code)
    canon = df.select(F.col(f"__{S.USER}").alias(S.USER), F.col(f"__{S.TRACK}").alias(S.TRACK),
                      F.col("__ts").alias(S.PLAYED_AT), F.col("__ms").alias(S.MS_PLAYED),
                      F.col("__sk").alias(S.SKIPPED), F.col("__w").alias(S.WEIGHT), F.col("__bad"),
                      *[(F.coalesce(c[3], F.lit("")) if c[3] is not None else F.lit(None).cast("string"))
                        .alias(f"__v{i}") for i, c in enumerate(checks)])
    with spark_errors(p):
        stats = canon.groupBy("__bad").count().collect()  # a handful of rows: counts per problem
        n_read = sum(r["count"] for r in stats)
        bad_counts = {r["__bad"]: r["count"] for r in stats if r["__bad"] is not None}
        report.rows_read = int(n_read)
        if bad_counts:
            _report_bad(spark, raw, canon, checks, bad_counts, report, p, on_bad_rows)
        good = canon.filter(F.col("__bad").isNull()).select(S.USER, S.TRACK, S.PLAYED_AT, S.MS_PLAYED,
                                                          S.SKIPPED, S.WEIGHT)
        keys = [S.USER, S.TRACK, S.PLAYED_AT, S.MS_PLAYED, S.SKIPPED, S.WEIGHT]
        n_good = n_read - sum(bad_counts.values())
        dedup = good.dropDuplicates(keys)
        n_dedup = dedup.count()
        if n_dedup < n_good:
            problem = "duplicate row (same user, track, time and values as an earlier row)"
            if on_bad_rows == "error":
                raise DataError(problem, path=p, column=S.USER)
            report.problems[problem] = int(n_good - n_dedup)
            report.examples[problem] = []
        report.rows_kept = int(n_dedup)
    if report.rows_kept == 0:
        raise DataError(f"no usable rows ({report.summary() or 'all rows were dropped'})", path=p)
    if report.problems:
        log.warning("%s", report.summary())
    return dedup, report


def _report_bad(spark, raw, canon, checks, bad_counts, report, path, on_bad_rows) -> None:
    """Fill ``report`` with counts and the first examples (with line numbers when the input is
    one file: rows are numbered by their position in the file)."""
    from pyspark.sql import functions as F
    indexed = None
    try:
        if _is_local(path) and Path(path).is_file():
            rdd = canon.select("__bad", *[c for c in canon.columns if c.startswith("__v")]).rdd.zipWithIndex()
            indexed = rdd.filter(lambda r: r[0]["__bad"] is not None)
    except Exception:  # pragma: no cover - numbering is best effort
        indexed = None
    first = {}
    if indexed is not None:
        for row, idx in indexed.take(50):
            first.setdefault(row["__bad"], []).append((idx + 2, row[f"__v{row['__bad']}"]))
    for i, (problem, column, _cond, shown) in enumerate(checks):
        if i not in bad_counts:
            continue
        examples = first.get(i)
        if examples is None:
            examples = [(None, r[f"__v{i}"]) for r in canon.filter(F.col("__bad") == i).select(f"__v{i}").take(3)]
        if on_bad_rows == "error":
            line, val = examples[0]
            shown_v = f" {val!r}" if shown is not None else ""
            raise DataError(f"{problem}{shown_v}", path=path, line=line, column=column)
        report.problems[problem] = int(bad_counts[i])
        report.examples[problem] = [(f"line {ln}" if ln is not None else "row") + (f" ({v!r})" if shown is not None else "")
                                    for ln, v in examples[:3]]


def read_catalog_spark(spark, path: str | Path, *, on_bad_rows: str = "skip") -> tuple[pd.DataFrame, LoadReport]:
    """The catalogue as a typed pandas frame (same rules as :func:`~trackrec.data.loaders.read_catalog`).

    Read by Spark (any path Spark can read, every column a string), then typed on the driver:
    the catalogue has one row per track and ships inside the model artefact anyway.
    """
    _check_policy(on_bad_rows)
    p = str(path)
    raw = read_raw(spark, path)
    _require(_fake(raw), S.CATALOG_REQUIRED, p)
    with spark_errors(p):
        df = raw.toPandas()
    df = df.astype(object).where(df.notna(), None)
    df, report = validate_catalog(df, p, on_bad_rows=on_bad_rows)
    return df, report


def sessions_input_bytes(path: str | Path) -> int:
    """Size on disk of a local input (0 for remote URIs)."""
    p = str(path)
    if not _is_local(p):
        return 0
    lp = Path(p)
    if lp.is_file():
        return lp.stat().st_size
    return int(sum(f.stat().st_size for f in lp.rglob("*") if f.is_file())) if lp.is_dir() else 0

