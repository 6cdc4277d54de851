"""The CLI's entry into the Spark engine: ``trackrec train|evaluate|batch-recommend --engine spark``.

:func:`spark_settings` merges the CLI's Spark options; :func:`run` executes one command and
returns a JSON-serialisable dict (printed with ``--json``; its ``summary`` key is the human
text). Errors are trackrec exceptions with one-line messages, never a JVM stack trace.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path

import pyspark  # noqa: F401  (ImportError here tells the CLI to suggest 'pip install trackrec[spark]')

from ...data import schema as S
from ...exceptions import DataError, TrackrecError
from .session import SparkEngineError, check_free_disk, get_session, spark_errors
from .session import spark_settings as _spark_settings

log = logging.getLogger(__name__)

__all__ = ["spark_settings", "run"]

COMMANDS = ("train", "evaluate", "batch-recommend")


def spark_settings(*, master: str | None, conf: list[str], config_file: Path | None, workdir: Path) -> dict:
    """Merged Spark settings (see :func:`trackrec.engines.spark.session.spark_settings`)."""
    return _spark_settings(master=master, conf=conf, config_file=config_file, workdir=workdir)


def _uri(p) -> str:
    """A path option as text; typer's Path turns 's3a://b/k' into 's3a:/b/k' — undo that."""
    s = str(p)
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):/([^/].*)$", s)
    if m and len(m.group(1)) > 1:
        return f"{m.group(1)}://{m.group(2)}"
    return s


def _is_uri(s: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", s)) and not s.startswith("file://")


class _Progress:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            sys.stderr.write(f"[spark {time.perf_counter() - self.t0:7.1f}s] {msg}\n")
            sys.stderr.flush()


def _summary_text(m: dict, title: str) -> str:
    keys = ("ndcg@10", "recall@20", "map@10", "hitrate@10", "coverage@10")
    short = ("ndcg@10", "recall@20", "map@10", "hit@10", "cover@10")
    lines = [title, f"{'strategy':<19}" + "".join(f"{k:>10}" for k in short) + f"{'roc_auc':>8}"]
    for name, r in m.get("models", {}).items():
        auc = f"{r['roc_auc']:>8.3f}" if "roc_auc" in r else ""
        lines.append(f"{name:<19}" + "".join(f"{r.get(k, float('nan')):>10.4f}" for k in keys) + auc)
    for note in m.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _tmpdir(settings: dict) -> Path:
    p = Path(settings.get("workdir", ".")) / "tmp" / "spark-work"
    p.mkdir(parents=True, exist_ok=True)
    return p


def _train(options: dict, settings: dict, quiet: bool) -> dict:
    from ...persistence.workdir import Workdir
    from .io import read_catalog_spark, read_sessions_spark, sessions_input_bytes
    from .pipeline import SPARK_DEFAULT_STRATEGIES, SPARK_STRATEGIES, train_spark
    workdir = Path(options["workdir"])
    wd = Workdir(workdir)
    strategies = options.get("strategies")
    names = [s.strip() for s in strategies.split(",")] if strategies else list(SPARK_DEFAULT_STRATEGIES)
    for n in names:
        if n not in S.MODEL_NAMES:
            raise TrackrecError(f"--strategies: unknown model '{n}'; expected some of {', '.join(S.MODEL_NAMES)}")
        if n not in SPARK_STRATEGIES:
            raise TrackrecError(f"--strategies: '{n}' is not available with --engine spark; "
                                f"expected some of {', '.join(SPARK_STRATEGIES)}")
    s_path = _uri(options["sessions"]) if options.get("sessions") else str(wd.sessions_path)
    if options.get("sessions") is None and not Path(s_path).exists():
        raise TrackrecError(f"{s_path}: no sessions file; run 'trackrec generate --workdir {workdir}' "
                            "or pass --sessions")
    c_opt = options.get("catalog")
    c_path = _uri(c_opt) if c_opt else (str(wd.catalog_path) if wd.catalog_path.exists() else None)
    check_free_disk(settings, need_bytes=3 * sessions_input_bytes(s_path))
    progress = _Progress(quiet)
    progress(f"starting Spark ({settings['master']})")
    spark = get_session(settings)
    on_bad = options.get("on_bad_rows", "skip")
    t0 = time.perf_counter()
    with spark_errors():
        sessions, s_rep = read_sessions_spark(spark, s_path, on_bad_rows=on_bad)
        catalog, c_rep = (read_catalog_spark(spark, c_path, on_bad_rows=on_bad) if c_path else (None, None))
        if not quiet:
            for rep in (c_rep, s_rep):
                if rep is not None and (rep.problems or rep.notes):
                    sys.stderr.write(rep.summary() + "\n")
        bundle = train_spark(spark, sessions, catalog, strategies=names, refit=bool(options.get("refit", True)),
                             random_state=int(options.get("seed", 0)), options=settings.get("options"),
                             tmpdir=_tmpdir(settings), progress=progress)
    progress("saving the model")
    version = wd.publish(bundle)
    path = wd.models_dir / version
    out = dict(bundle.metrics)
    out.update({"version": version, "model_path": str(path), "seconds": round(time.perf_counter() - t0, 2),
                "load_report": {"sessions": s_rep.to_dict(), "catalog": c_rep.to_dict() if c_rep else None}})
    out["summary"] = _summary_text(out, f"model {version} (trained on Spark): ranking of later listens "
                                        "(full catalogue)") + f"\nsaved {path}"
    return out


def _evaluate(options: dict, settings: dict, quiet: bool) -> dict:
    from ...persistence import load_bundle, resolve_model_path
    from .batch import evaluate_bundle_spark
    from .io import read_sessions_spark
    path = resolve_model_path(options.get("model"), options["workdir"])
    bundle = load_bundle(path)
    if options.get("sessions") is None:
        metrics = dict(bundle.metrics)
    else:
        progress = _Progress(quiet)
        progress(f"starting Spark ({settings['master']})")
        spark = get_session(settings)
        with spark_errors():
            sessions, rep = read_sessions_spark(spark, _uri(options["sessions"]),
                                                on_bad_rows=options.get("on_bad_rows", "skip"))
            if not quiet and (rep.problems or rep.notes):
                sys.stderr.write(rep.summary() + "\n")
            progress("evaluating the saved model on newer listens")
            metrics = evaluate_bundle_spark(spark, bundle, sessions, tmpdir=_tmpdir(settings))
    metrics.update({"version": bundle.meta.get("version"), "model_path": str(path)})
    metrics["summary"] = _summary_text(metrics, f"model {bundle.meta.get('version')}")
    return metrics


def _batch(options: dict, settings: dict, quiet: bool) -> dict:
    from ...persistence import load_bundle, resolve_model_path
    from .batch import batch_recommend_spark
    out = _uri(options["out"])
    suffix = Path(out).suffix.lower()
    if suffix not in ("", ".parquet", ".pq"):
        raise TrackrecError(f"--out {out}: the Spark engine writes a Parquet folder; use a .parquet name "
                            "(or --engine local for CSV)")
    if not _is_uri(out):
        out = str(Path(out).absolute())
    path = resolve_model_path(options.get("model"), options["workdir"])
    bundle = load_bundle(path)
    name = options.get("strategy") or bundle.default_strategy
    bundle.model(name)  # unknown strategy: one-line error before Spark starts
    progress = _Progress(quiet)
    progress(f"starting Spark ({settings['master']})")
    spark = get_session(settings)
    t0 = time.perf_counter()
    with spark_errors(out):
        progress(f"scoring {bundle.dataset.n_users} users in blocks ({name})")
        info = batch_recommend_spark(spark, bundle, out, k=int(options.get("k", 10)), strategy=name,
                                     tmpdir=_tmpdir(settings))
        rows = spark.read.parquet(out).count()
    info.update({"rows": int(rows), "seconds": round(time.perf_counter() - t0, 3), "model_path": str(path),
                 "format": "parquet-folder"})
    info["summary"] = (f"wrote {rows} recommendations for {info['users']} users to {out} (Parquet folder) "
                       f"in {info['seconds']:.1f}s")
    return info


def run(command: str, options: dict, *, settings: dict, quiet: bool) -> dict:
    """Run ``command`` ("train", "evaluate" or "batch-recommend") on Spark; see the module doc."""
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")
    if not quiet:
        logging.getLogger("py4j").setLevel(logging.ERROR)
    try:
        if command == "train":
            return _train(options, settings, quiet)
        if command == "evaluate":
            return _evaluate(options, settings, quiet)
        return _batch(options, settings, quiet)
    except (TrackrecError, DataError, ValueError, FileExistsError, FileNotFoundError):
        raise
    except Exception as exc:  # anything Spark/Py4J threw outside a translated block
        with spark_errors():
            raise exc
        raise SparkEngineError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
