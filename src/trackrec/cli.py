"""The ``trackrec`` command line: thin commands over the library.

Each command parses options, calls the library and formats the result. Library errors become
one-line messages on stderr with exit code 1; ``--json`` output always goes to stdout.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .data import schema as S
from .exceptions import TrackrecError

app = typer.Typer(help="trackrec: learn track affinity from listening sessions and recommend what to play next.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err = Console(stderr=True)
out = Console()

WorkdirOpt = Annotated[Path, typer.Option("--workdir", "-w", help="Setup directory: data/, models/, outputs/.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")]
ModelOpt = Annotated[Optional[Path], typer.Option("--model", "-m", help="Model version directory (default: the workdir's models/CURRENT).")]
SessionsOpt = Annotated[Optional[Path], typer.Option("--sessions", help="Sessions CSV/TSV/Parquet (default: WORKDIR/data/sessions.*).")]
CatalogOpt = Annotated[Optional[Path], typer.Option("--catalog", help="Catalogue CSV/Parquet (default: WORKDIR/data/catalog.*).")]
BadRowsOpt = Annotated[str, typer.Option("--on-bad-rows", help="skip: drop and report bad rows; error: stop at the first.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="local (default) or spark (needs pip install 'trackrec\\[spark]').")]
SparkMasterOpt = Annotated[Optional[str], typer.Option("--spark-master", help="Spark master URL (default local[*]).")]
SparkConfOpt = Annotated[Optional[list[str]], typer.Option("--spark-conf", help="Extra Spark setting KEY=VALUE (repeatable), e.g. spark.executor.memory=8g.")]
SparkConfigFileOpt = Annotated[Optional[Path], typer.Option("--spark-config", help="TOML/JSON file of Spark settings.")]
StrategyOpt = Annotated[Optional[str], typer.Option("--strategy", "-s", help="Model name: " + ", ".join(S.MODEL_NAMES) + " (default: the model's default).")]

DEFAULT_WORKDIR = Path("trackrec-work")


def _fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _errors():
    """Turn user mistakes into one-line messages instead of tracebacks."""
    try:
        yield
    except TrackrecError as exc:
        _fail(str(exc))
    except (FileExistsError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        _fail(str(exc))
    except ValueError as exc:  # bad parameter values raised by the library
        _fail(str(exc))


@contextmanager
def _steps(quiet: bool, total: int | None = None):
    """A progress display on stderr; yields a callback taking a step description."""
    if quiet:
        yield lambda _msg: None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("starting", total=total)

        def step(msg: str) -> None:
            progress.update(task, description=msg, advance=1)
        yield step


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _load_inputs(workdir: Path, sessions: Path | None, catalog: Path | None, on_bad_rows: str,
                 quiet: bool, *, need_catalog: bool = False):
    from .data.loaders import read_catalog, read_sessions
    from .persistence.workdir import Workdir
    wd = Workdir(workdir)
    if sessions is None and catalog is None:
        from .service.store import load_frames
        frames = load_frames(workdir)  # a workdir with a service store trains on the store's listens
        if frames is not None:
            if not quiet:
                err.print(f"training on the store in {workdir} ({len(frames[0])} plays)", highlight=False)
            return frames
    s_path = sessions or wd.sessions_path
    c_path = catalog or wd.catalog_path
    if sessions is None and not s_path.exists():
        _fail(f"{s_path}: no sessions file; run 'trackrec generate --workdir {workdir}' or pass --sessions")
    sess, s_rep = read_sessions(s_path, on_bad_rows=on_bad_rows)
    cat, c_rep = (None, None)
    if catalog is not None or c_path.exists() or need_catalog:
        cat, c_rep = read_catalog(c_path, on_bad_rows=on_bad_rows)
    if not quiet:
        for rep in (c_rep, s_rep):
            if rep is not None and (rep.problems or rep.notes):
                err.print(rep.summary(), highlight=False, soft_wrap=True)
        if cat is not None:
            known = sess[S.TRACK].isin(cat[S.TRACK])
            if (~known).any():
                err.print(f"{s_path}: {int((~known).sum())} play(s) of {sess[S.TRACK][~known].nunique()} track(s) "
                          f"not in the catalogue (kept for collaborative models; content models skip them)",
                          highlight=False, soft_wrap=True)
    return sess, cat


def _spark(command: str, options: dict, master, conf, config_file, quiet) -> dict:
    """Run a command on the Spark engine (trackrec.engines.spark.cli_bridge)."""
    try:
        from .engines.spark import cli_bridge
    except ImportError as exc:
        _fail(f"--engine spark needs PySpark: pip install 'trackrec[spark]' ({exc})")
    settings = cli_bridge.spark_settings(master=master, conf=conf or [], config_file=config_file,
                                         workdir=options["workdir"])
    return cli_bridge.run(command, options, settings=settings, quiet=quiet)


def _metrics_table(metrics: dict, title: str) -> Table:
    keys = ("ndcg@10", "recall@20", "map@10", "hitrate@10", "coverage@10")
    t = Table(title=title, title_justify="left")
    t.add_column("strategy", no_wrap=True)
    for k in keys:
        t.add_column(k.replace("coverage", "cov").replace("hitrate", "hit"), justify="right")
    t.add_column("roc_auc", justify="right")
    for name, m in metrics.get("models", {}).items():
        t.add_row(name, *(f"{m.get(k, float('nan')):.4f}" for k in keys),
                  f"{m['roc_auc']:.3f}" if "roc_auc" in m else "")
    return t


def _print_weights(metrics: dict) -> None:
    """The ranker's logistic-regression weights: what drives affinity."""
    r = metrics.get("models", {}).get("affinity-ranker", {})
    if "weights" in r:
        top = sorted(r["weights"].items(), key=lambda kv: -abs(kv[1]))
        out.print("affinity-ranker: what drives affinity (weights on standardised features): "
                  + ", ".join(f"{k} {v:+.2f}" for k, v in top[:6])
                  + (f"  [validation chose: {r['ranker_mode']}]" if r.get("ranker_mode") != "ranker" else ""),
                  highlight=False)


def _rec_table(df, title: str) -> Table:
    t = Table(title=title, title_justify="left")
    cols = [c for c in ("rank", "track_id", "title", "artist", "genre", "mood", "score") if c in df.columns]
    for c in cols:
        t.add_column(c, justify="right" if c in ("rank", "score") else "left")
    for _, row in df.iterrows():
        t.add_row(*(f"{row[c]:.4f}" if c == "score" else str(row[c]) for c in cols))
    return t


@app.command()
def generate(
    workdir: WorkdirOpt = DEFAULT_WORKDIR,
    users: Annotated[int, typer.Option(help="Number of users.", min=1)] = 600,
    tracks: Annotated[int, typer.Option(help="Number of tracks.", min=10)] = 3000,
    plays: Annotated[int, typer.Option(help="Number of plays.", min=100)] = 120_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    json_out: JsonOpt = False,
):
    """Write a synthetic music world (catalogue + listening sessions) into WORKDIR/data.

    Example: trackrec generate --workdir demo --users 600 --tracks 3000 --plays 120000
    """
    from .data.generate import generate_world, write_world
    from .persistence.workdir import Workdir
    if fmt not in ("csv", "parquet"):
        _fail(f"--format must be csv or parquet, got {fmt!r}")
    with _errors():
        wd = Workdir(workdir).ensure()
        catalog, sessions = generate_world(n_users=users, n_tracks=tracks, n_plays=plays, random_state=seed)
        for p in wd.data_dir.glob("*"):
            if p.stem in ("catalog", "sessions"):
                p.unlink()
        c, s = write_world(wd.data_dir, catalog, sessions, fmt=fmt)
    info = {"catalog": str(c), "sessions": str(s), "tracks": len(catalog), "users": int(sessions[S.USER].nunique()),
            "plays": len(sessions)}
    if json_out:
        _print_json(info)
    else:
        out.print(f"wrote {info['tracks']} tracks to {c} and {info['plays']} plays by {info['users']} users to {s}")


def _train(workdir, sessions, catalog, on_bad_rows, quiet, refit, seed, strategies, tune=0,
           min_ms_played=S.DEFAULT_MIN_MS_PLAYED, skips_are_negative=True):
    from .pipeline import DEFAULT_STRATEGIES, train as train_pipeline
    from .persistence.workdir import Workdir
    names = [s.strip() for s in strategies.split(",")] if strategies else list(DEFAULT_STRATEGIES)
    for n in names:
        if n not in S.MODEL_NAMES:
            _fail(f"--strategies: unknown model '{n}'; expected some of {', '.join(S.MODEL_NAMES)}")
    sess, cat = _load_inputs(workdir, sessions, catalog, on_bad_rows, quiet)
    with _steps(quiet, total=3 * len(names) + 2) as step:
        bundle = train_pipeline(sess, cat, strategies=names, refit=refit, random_state=seed, tune=tune,
                                min_ms_played=min_ms_played, skips_are_negative=skips_are_negative,
                                progress=step)
        step("saving")
        version = Workdir(workdir).publish(bundle)
    return bundle, version


@app.command()
def train(
    workdir: WorkdirOpt = DEFAULT_WORKDIR,
    sessions: SessionsOpt = None,
    catalog: CatalogOpt = None,
    strategies: Annotated[Optional[str], typer.Option(help="Comma-separated model names to train.")] = None,
    refit: Annotated[bool, typer.Option("--refit/--no-refit", help="Refit on all data after evaluation (--no-refit keeps the evaluation model).")] = True,
    seed: Annotated[int, typer.Option(help="Random seed (negative sampling, splits).")] = 0,
    tune: Annotated[int, typer.Option("--tune", help="Optuna trials for EASE and iALS on a validation split of train (0 = defaults).", min=0)] = 0,
    min_ms_played: Annotated[float, typer.Option("--min-ms-played", help="A play counts as enjoyed from this many milliseconds.", min=0)] = S.DEFAULT_MIN_MS_PLAYED,
    skips: Annotated[bool, typer.Option("--skips-negative/--skips-count", help="Skipped plays are not positives (default), or count like any play.")] = True,
    on_bad_rows: BadRowsOpt = "skip",
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = None,
    spark_conf: SparkConfOpt = None,
    spark_config: SparkConfigFileOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
):
    """Train, evaluate on each user's later listens, refit, and save a new model version.

    Example: trackrec train --workdir demo --json
    Example (Spark): trackrec train --workdir demo --engine spark --json
    """
    if engine == "spark":
        with _errors():
            result = _spark("train", dict(workdir=workdir, sessions=sessions, catalog=catalog, strategies=strategies, refit=refit, seed=seed, on_bad_rows=on_bad_rows), spark_master, spark_conf, spark_config, quiet)
        _print_json(result) if json_out else out.print(result.get("summary", json.dumps(result, indent=2, default=str)))
        return
    with _errors():
        bundle, version = _train(workdir, sessions, catalog, on_bad_rows, quiet, refit, seed, strategies, tune,
                                 min_ms_played, skips)
    m = bundle.metrics | {"version": version, "model_path": str(Path(workdir) / "models" / version)}
    if json_out:
        _print_json(m)
    else:
        out.print(_metrics_table(m, f"model {version}: ranking of later listens (full catalogue)"))
        _print_weights(m)
        out.print(f"saved {Path(workdir) / 'models' / version}")


@app.command()
def evaluate(
    workdir: WorkdirOpt = DEFAULT_WORKDIR,
    model: ModelOpt = None,
    sessions: Annotated[Optional[Path], typer.Option("--sessions", help="Sessions newer than the model's data cutoff to evaluate on.")] = None,
    on_bad_rows: BadRowsOpt = "skip",
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = None,
    spark_conf: SparkConfOpt = None,
    spark_config: SparkConfigFileOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
):
    """Print a saved model's metrics; with --sessions, evaluate it on listens newer than its cutoff.

    Example: trackrec evaluate --workdir demo --json
    """
    if engine == "spark":
        with _errors():
            result = _spark("evaluate", dict(workdir=workdir, model=model, sessions=sessions, on_bad_rows=on_bad_rows), spark_master, spark_conf, spark_config, quiet)
        _print_json(result) if json_out else out.print(result.get("summary", json.dumps(result, indent=2, default=str)))
        return
    from .data.loaders import read_sessions
    from .persistence import load_bundle, resolve_model_path
    from .pipeline import evaluate_bundle_on_sessions
    with _errors():
        path = resolve_model_path(model, workdir)
        bundle = load_bundle(path)
        if sessions is not None:
            sess, rep = read_sessions(sessions, on_bad_rows=on_bad_rows)
            if not quiet and (rep.problems or rep.notes):
                err.print(rep.summary(), highlight=False, soft_wrap=True)
            metrics = evaluate_bundle_on_sessions(bundle, sess)
        else:
            metrics = bundle.metrics
    metrics = metrics | {"version": bundle.meta.get("version"), "model_path": str(path)}
    if json_out:
        _print_json(metrics)
    else:
        out.print(_metrics_table(metrics, f"model {bundle.meta.get('version')}"))


@app.command()
def recommend(
    user: Annotated[str, typer.Option("--user", "-u", help="User id (unknown users get popular tracks).")],
    k: Annotated[int, typer.Option("-k", help="Number of tracks.", min=1, max=1000)] = 10,
    strategy: StrategyOpt = None,
    workdir: WorkdirOpt = DEFAULT_WORKDIR,
    model: ModelOpt = None,
    include_listened: Annotated[bool, typer.Option("--include-listened", help="Also recommend tracks the user already played.")] = False,
    json_out: JsonOpt = False,
):
    """Top-k tracks for one user from a saved model.

    Example: trackrec recommend --workdir demo --user u0001 -k 10 --strategy affinity-lr
    """
    from .persistence import load_bundle, resolve_model_path
    with _errors():
        bundle = load_bundle(resolve_model_path(model, workdir))
        name = strategy or bundle.default_strategy
        rec = bundle.recommend(user, k, strategy=name, exclude_listened=not include_listened)
        df = rec.to_frame()
        if bundle.dataset.catalog is not None and len(df):
            info = bundle.track_info(df["track_id"])
            for c in ("title", "artist", "genre", "mood"):
                if c in info.columns:
                    df[c] = info[c].to_numpy()
    if json_out:
        _print_json({"user_id": user, "strategy": name, "cold_start": rec.cold_start,
                     "items": df.drop(columns=["user_id", "cold_start"]).to_dict(orient="records")})
    else:
        note = " (cold start: popular tracks)" if rec.cold_start else ""
        out.print(_rec_table(df, f"{name} for user {user}{note}"))


@app.command("batch-recommend")
def batch_recommend(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file, .parquet or .csv.")],
    k: Annotated[int, typer.Option("-k", help="Tracks per user.", min=1, max=1000)] = 10,
    strategy: StrategyOpt = None,
    workdir: WorkdirOpt = DEFAULT_WORKDIR,
    model: ModelOpt = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = None,
    spark_conf: SparkConfOpt = None,
    spark_config: SparkConfigFileOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
):
    """Top-k for every user of the model, long format (user_id, rank, track_id, score, cold_start).

    Example: trackrec batch-recommend --workdir demo --out recs.parquet -k 20
    Example (Spark, writes a Parquet folder): trackrec batch-recommend --workdir demo --engine spark --out recs.parquet
    """
    if engine == "spark":
        with _errors():
            result = _spark("batch-recommend", dict(workdir=workdir, model=model, out=out_path, k=k, strategy=strategy), spark_master, spark_conf, spark_config, quiet)
        _print_json(result) if json_out else out.print(result.get("summary", json.dumps(result, indent=2, default=str)))
        return
    from .api import generate_batch_recommendations
    from .persistence import load_bundle, resolve_model_path
    with _errors():
        if out_path.suffix.lower() not in (".csv", ".parquet", ".pq"):
            _fail(f"--out {out_path}: unsupported extension; use .parquet or .csv")
        bundle = load_bundle(resolve_model_path(model, workdir))
        t0 = time.perf_counter()
        n = bundle.dataset.n_users
        if quiet:
            df = generate_batch_recommendations(bundle, out_path, k=k, strategy=strategy)
        else:
            with Progress(TextColumn("recommending"), BarColumn(), TextColumn("{task.completed}/{task.total} users"),
                          TimeElapsedColumn(), console=err, transient=True) as progress:
                task = progress.add_task("users", total=n)
                df = generate_batch_recommendations(bundle, out_path, k=k, strategy=strategy,
                                                    progress=lambda m: progress.advance(task, m))
        elapsed = time.perf_counter() - t0
    info = {"out": str(out_path), "users": n, "rows": len(df), "k": k,
            "strategy": strategy or bundle.default_strategy, "seconds": round(elapsed, 3)}
    if json_out:
        _print_json(info)
    else:
        out.print(f"wrote {info['rows']} recommendations for {n} users to {out_path} in {elapsed:.1f}s")


@app.command()
def demo(
    workdir: WorkdirOpt = DEFAULT_WORKDIR,
    user: Annotated[Optional[str], typer.Option("--user", help="User to show (default: the first user).")] = None,
    quiet: QuietOpt = False,
):
    """Generate the demo world, train, evaluate and recommend: the whole pipeline in one go.

    Example: trackrec demo --workdir demo
    """
    from .data.generate import generate_world, write_world
    from .persistence.workdir import Workdir
    t0 = time.perf_counter()
    with _errors():
        wd = Workdir(workdir).ensure()
        if not wd.sessions_path.exists():
            catalog, sessions = generate_world()
            write_world(wd.data_dir, catalog, sessions)
            out.print(f"generated {len(catalog)} tracks and {len(sessions)} plays in {wd.data_dir}")
        bundle, version = _train(workdir, None, None, "skip", quiet, True, 0, None)
        out.print(_metrics_table(bundle.metrics, "ranking of each user's later listens (full catalogue; "
                                                 "models never saw them)"))
        m = bundle.metrics
        _print_weights(m)
        if "roc_auc" in m:
            out.print(f"affinity-lr on held-out pairs: accuracy {m['accuracy']:.3f}, ROC AUC {m['roc_auc']:.3f}")
        uid = user or str(bundle.dataset.users.external_ids[0])
        from .api import recommend_tracks_by_prediction
        df = recommend_tracks_by_prediction(bundle, uid, k=10)
        out.print(_rec_table(df, f"affinity-lr recommendations for user {uid} (score = P(enjoy))"))
    out.print(f"model saved as {Path(workdir) / 'models' / version}; done in {time.perf_counter() - t0:.0f}s")
    out.print(f"next: trackrec recommend --workdir {workdir} --user {uid}   |   "
              f"trackrec evaluate --workdir {workdir} --json")


@app.callback(invoke_without_command=True)
def _main(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details to stderr.")] = False):
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if version:
        out.print(f"trackrec {__version__}")
        raise typer.Exit()


def _register_extensions() -> None:
    """Commands contributed by other stages (service, benchmark) register themselves here."""
    import importlib
    for mod in ("trackrec.data.commands", "trackrec.service.commands", "trackrec.evaluation.commands"):
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
            continue
        module.register(app)


_register_extensions()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
