"""Spark settings, the session, scratch space, and turning JVM errors into one-line messages.

Settings are merged in this order (later wins): built-in defaults, a TOML/JSON config file
(``--spark-config``), then ``--spark-conf KEY=VALUE`` options. The master URL comes from
``--spark-master``, else the file's ``master`` key, else ``local[*]``.

Built-in defaults keep a laptop run self-contained: the driver is bound to 127.0.0.1 when the
master is local, the web UI is off, session time zone is UTC (timestamps are stored as UTC),
scratch space (``spark.local.dir``) lives under ``<workdir>/tmp/spark``, and the Python workers
use the driver's interpreter.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from ...exceptions import DataError, TrackrecError

log = logging.getLogger(__name__)

__all__ = ["spark_settings", "get_session", "stop_session", "spark_errors", "check_free_disk",
           "SparkEngineError", "DEFAULT_MASTER"]

DEFAULT_MASTER = "local[*]"
#: Minimum free space (bytes) in ``spark.local.dir`` before any run.
MIN_FREE_BYTES = 1 << 30


class SparkEngineError(TrackrecError):
    """The Spark engine could not run (bad settings, no Java, out of disk, a failed job)."""


def _parse_conf_items(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise SparkEngineError(f"--spark-conf {item!r}: expected KEY=VALUE, e.g. spark.executor.memory=8g")
        k, v = item.split("=", 1)
        k = k.strip()
        if not k:
            raise SparkEngineError(f"--spark-conf {item!r}: empty key")
        out[k] = v.strip()
    return out


def _read_config_file(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise SparkEngineError(f"{path}: Spark config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import tomllib
            data = tomllib.loads(text)
    except Exception as exc:  # tomllib.TOMLDecodeError / json.JSONDecodeError
        raise SparkEngineError(f"{path}: cannot parse Spark config ({exc})") from None
    if not isinstance(data, dict):
        raise SparkEngineError(f"{path}: expected a table of Spark settings")
    # Top-level keys: "master" and trackrec's engine options; a [spark] table (dotted keys or
    # nested tables) and top-level "spark.*" keys: Spark settings.
    flat: dict = {}

    def walk(prefix: str, d: dict) -> None:
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(key, v)
            else:
                flat[key] = v
    walk("", data)
    return flat


def spark_settings(*, master: str | None = None, conf: list[str] | None = None,
                   config_file: Path | None = None, workdir: Path | str = ".") -> dict:
    """Merged Spark settings: ``{"master": ..., "conf": {...}, "options": {...}}``.

    ``options`` holds trackrec's own knobs that may be set in the config file (keys without a
    ``spark.`` prefix, e.g. ``max_lr_pairs``, ``als_rank``, ``als_max_iter``, ``block_users``).
    """
    workdir = Path(workdir)
    file_conf = _read_config_file(config_file) if config_file is not None else {}
    master = master or file_conf.pop("master", None) or os.environ.get("TRACKREC_SPARK_MASTER") or DEFAULT_MASTER
    file_conf.pop("master", None)
    local = str(master).startswith("local")
    scratch = (workdir / "tmp" / "spark").absolute()
    c: dict[str, str] = {
        "spark.app.name": "trackrec",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "8" if local else "200",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
        "spark.local.dir": str(scratch),
        "spark.driver.memory": "4g",
    }
    if local:
        c.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                  "spark.pyspark.python": sys.executable, "spark.pyspark.driver.python": sys.executable})
    options = {}
    for k, v in file_conf.items():
        if k.startswith("spark."):
            c[k] = str(v).lower() if isinstance(v, bool) else str(v)
        else:
            options[k] = v
    c.update(_parse_conf_items(list(conf or [])))
    if "spark.jars.packages" in c:
        log.warning("spark.jars.packages is set: Spark will try to download from Maven")
    return {"master": str(master), "conf": c, "options": options, "workdir": str(workdir)}


def check_free_disk(settings: dict, *, need_bytes: int = 0) -> int:
    """Raise :class:`SparkEngineError` when ``spark.local.dir`` has less than ``need_bytes``
    (at least 1 GiB) free. Returns the free bytes."""
    local_dir = settings["conf"].get("spark.local.dir")
    if not local_dir or not settings["master"].startswith("local"):
        return -1
    first = Path(local_dir.split(",")[0])
    first.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(first).free
    need = max(int(need_bytes), MIN_FREE_BYTES)
    if free < need:
        raise SparkEngineError(f"{first}: only {free / 2**30:.1f} GiB free for Spark scratch space, need about "
                               f"{need / 2**30:.1f} GiB; free some disk or set spark.local.dir with --spark-conf")
    return free


_SESSION = None


def get_session(settings: dict):
    """The SparkSession for ``settings`` (reused when one is already active)."""
    global _SESSION
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings["master"].startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    check_free_disk(settings)
    from pyspark.sql import SparkSession
    active = SparkSession.getActiveSession()
    if active is not None:
        _SESSION = active
        for k, v in settings["conf"].items():
            if k.startswith("spark.sql."):
                try:
                    active.conf.set(k, v)
                except Exception:  # some SQL confs are static
                    pass
        return active
    builder = SparkSession.builder.master(settings["master"])
    for k, v in settings["conf"].items():
        builder = builder.config(k, v)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "JAVA_HOME" in msg or "Java gateway" in msg:
            msg += " (Spark needs Java 17+: install a JRE and set JAVA_HOME)"
        raise SparkEngineError(f"cannot start Spark ({settings['master']}): {msg}") from None
    spark.sparkContext.setLogLevel("ERROR")
    _SESSION = spark
    return spark


def stop_session() -> None:
    global _SESSION
    if _SESSION is not None:
        _SESSION.stop()
        _SESSION = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if "Python worker" in text or "Traceback" in text:  # PythonException: the Python error's last line
        errs = [ln.strip() for ln in text.splitlines() if re.match(r"^\s*[A-Za-z_.]*(Error|Exception): ", ln)]
        if errs:
            return errs[-1][:300]
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "JVM stacktrace", "Caused by")):
            return line[:300]
    return type(exc).__name__


@contextmanager
def spark_errors(path: str | None = None):
    """Translate Spark/Py4J exceptions into :class:`DataError` (bad input at ``path``) or
    :class:`SparkEngineError`, with one line of text and no JVM stack trace."""
    try:
        yield
    except TrackrecError:
        raise
    except Exception as exc:
        try:
            from pyspark.errors import AnalysisException
        except ImportError:  # pragma: no cover
            AnalysisException = ()  # type: ignore[assignment]
        try:
            from py4j.protocol import Py4JError
        except ImportError:  # pragma: no cover
            Py4JError = ()  # type: ignore[assignment]
        is_spark = isinstance(exc, (AnalysisException, Py4JError)) or type(exc).__module__.startswith(
            ("pyspark", "py4j"))
        if not is_spark:
            raise
        text = str(exc)
        if path is not None and ("PATH_NOT_FOUND" in text or "Path does not exist" in text
                                 or "FileNotFoundException" in text):
            raise DataError("file not found", path=path) from None
        if path is not None and isinstance(exc, AnalysisException):
            raise DataError(f"cannot read ({_first_line(exc)})", path=path) from None
        raise SparkEngineError(f"Spark job failed: {_first_line(exc)}") from None
