"""CLI commands of the service: ``trackrec init``, ``trackrec serve``, ``trackrec token``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["register"]

WorkdirOpt = Annotated[Path, typer.Option("--workdir", "-w", help="Setup directory: store.db, data/, models/.")]


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(1)


def init(
    workdir: WorkdirOpt = Path("trackrec-work"),
    catalog: Annotated[Optional[Path], typer.Option("--catalog", help="Catalogue CSV/Parquet (default: WORKDIR/data, else generated demo data).")] = None,
    sessions: Annotated[Optional[Path], typer.Option("--sessions", help="Sessions CSV/TSV/Parquet (default: WORKDIR/data, else generated demo data).")] = None,
    demo_users: Annotated[int, typer.Option(help="Print tokens for this many users.", min=0, max=100)] = 3,
    force: Annotated[bool, typer.Option("--force", help="Recreate an existing store (its listens are lost).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress notes.")] = False,
):
    """Create the service store (SQLite, WORKDIR/store.db) and train a first model.

    Uses --catalog/--sessions, else WORKDIR/data, else generates the demo world. Prints the admin
    API key once (set TRACKREC_ADMIN_KEY to choose it) and tokens for a few demo users.

    Example: trackrec init --workdir demo && trackrec serve --workdir demo
    """
    from ..data.loaders import read_catalog, read_sessions
    from ..exceptions import TrackrecError
    from .bootstrap import init_workdir

    def note(msg: str) -> None:
        if not quiet:
            sys.stderr.write(f"  {msg}\n")
    try:
        if (catalog is None) != (sessions is None):
            _fail("pass both --catalog and --sessions, or neither")
        sess = cat = None
        if sessions is not None:
            sess, _ = read_sessions(sessions)
            cat, _ = read_catalog(catalog)
        res = init_workdir(workdir, sessions=sess, catalog=cat, demo_users=demo_users, force=force, progress=note)
    except (TrackrecError, FileNotFoundError, PermissionError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"store {res.store}: {res.tracks} tracks, {res.users} users, {res.plays} plays"
               + (" (generated demo data)" if res.generated else ""))
    typer.echo(f"model version {res.version} is current")
    if res.admin_key:
        typer.echo(f"admin API key (shown once; only its hash is stored): {res.admin_key}")
    else:
        typer.echo("admin API key: taken from TRACKREC_ADMIN_KEY")
    for u, t in res.tokens.items():
        typer.echo(f"token for user {u}: {t}")
    typer.echo(f"next: trackrec serve --workdir {workdir}   (dashboard at http://127.0.0.1:8000/)")


def serve(
    workdir: WorkdirOpt = Path("trackrec-work"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each follows models/CURRENT).", min=1, max=64)] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
):
    """Run the HTTP API and the dashboard (OpenAPI docs at /docs).

    Example: trackrec serve --workdir demo --port 8000
    """
    import os

    import uvicorn

    from .store import StoreError, Store, store_path

    if log_level.lower() not in ("debug", "info", "warning", "error"):
        _fail(f"--log-level must be debug, info, warning or error, got {log_level!r}")
    try:
        Store(store_path(workdir)).close()
    except StoreError as exc:
        _fail(str(exc))
    if not (Path(workdir) / "models" / "CURRENT").exists():
        _fail(f"no trained model in {workdir}; run 'trackrec init --workdir {workdir}' first")
    os.environ["TRACKREC_WORKDIR"] = str(Path(workdir).resolve())
    os.environ["TRACKREC_LOG_LEVEL"] = log_level.upper()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, os.environ.get("TRACKREC_BLAS_THREADS", "1"))
    sys.stderr.write(f"trackrec serving {workdir} on http://{host}:{port}/ (docs at /docs)\n")
    uvicorn.run("trackrec.service.app:create_app_from_env", factory=True, host=host, port=port,
                workers=workers, access_log=False, log_level=log_level.lower())


def token(
    user: Annotated[str, typer.Argument(help="User id.")],
    workdir: WorkdirOpt = Path("trackrec-work"),
):
    """Issue an API token for USER (created if new); only its hash is stored.

    Example: trackrec token u0001 --workdir demo
    """
    import re

    from .schemas import ID_PATTERN
    from .store import Store, StoreError, store_path
    if not re.match(ID_PATTERN, user):
        _fail(f"USER: '{user}' is not a valid user id (letters, digits and ._@:+- up to 128 characters)")
    try:
        store = Store(store_path(workdir))
    except StoreError as exc:
        _fail(str(exc))
    typer.echo(store.issue_token(user))
    store.close()


def register(app: typer.Typer) -> None:
    """Add ``init``, ``serve`` and ``token`` to the ``trackrec`` CLI."""
    app.command("init")(init)
    app.command("serve")(serve)
    app.command("token")(token)
