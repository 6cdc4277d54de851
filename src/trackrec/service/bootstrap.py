"""``trackrec init``: a store from demo data or given files, a first model, an admin key, demo tokens."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data import schema as S
from ..persistence.workdir import Workdir
from .store import Store, StoreError, store_path

__all__ = ["InitResult", "init_workdir", "new_admin_key"]


@dataclass
class InitResult:
    store: Path
    version: str
    admin_key: str | None          # None when it came from TRACKREC_ADMIN_KEY (not printed)
    tokens: dict[str, str] = field(default_factory=dict)
    tracks: int = 0
    users: int = 0
    plays: int = 0
    generated: bool = False


def new_admin_key() -> str:
    return "trk_admin_" + secrets.token_urlsafe(32)


def init_workdir(workdir: str | Path, *, sessions: pd.DataFrame | None = None, catalog: pd.DataFrame | None = None,
                 admin_key: str | None = None, demo_users: int = 3, force: bool = False,
                 generate: dict | None = None, train_params: dict | None = None,
                 progress: Callable[[str], None] = lambda _m: None) -> InitResult:
    """Create ``<workdir>/store.db`` and train the first model.

    Data: the given frames, else ``WORKDIR/data`` files, else a generated demo world (written to
    ``WORKDIR/data``; ``generate`` passes sizes to :func:`~trackrec.data.generate.generate_world`).
    The admin key is ``admin_key``, else ``TRACKREC_ADMIN_KEY``, else a new random one (returned
    once; only its hash is stored).
    """
    from ..data.generate import generate_world, write_world
    from ..data.loaders import read_catalog, read_sessions
    from ..pipeline import train

    wd = Workdir(workdir).ensure()
    path = store_path(workdir)
    if path.exists():
        if not force:
            raise StoreError(f"{path} already exists; use --force to recreate it (its listens are lost)")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(path) + suffix)
            if p.exists():
                p.unlink()
    generated = False
    if sessions is None:
        if wd.sessions_path.exists():
            progress(f"reading {wd.sessions_path}")
            sessions, _ = read_sessions(wd.sessions_path)
            if catalog is None and wd.catalog_path.exists():
                catalog, _ = read_catalog(wd.catalog_path)
        else:
            progress("generating the demo world")
            catalog, sessions = generate_world(**(generate or {}))
            write_world(wd.data_dir, catalog, sessions)
            generated = True
    if catalog is None:
        raise StoreError("the service needs a track catalogue (title, artist, genre, ...); pass --catalog")
    missing = set(sessions[S.TRACK].astype(str)) - set(catalog[S.TRACK].astype(str))
    if missing:
        # Every stored listen must reference a catalogue track; plays of unknown tracks are dropped.
        sessions = sessions[sessions[S.TRACK].astype(str).isin(set(catalog[S.TRACK].astype(str)))]
        progress(f"dropped plays of {len(missing)} track(s) missing from the catalogue")
    tmp = path.with_name(path.name + ".init")
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(tmp) + suffix)
        if p.exists():
            p.unlink()
    progress("creating the store")
    store = Store(tmp, create=True)
    store.add_tracks(catalog.reset_index(drop=True), replace_columns=True)
    store.import_sessions(sessions)
    key_from_env = admin_key is None and bool(os.environ.get("TRACKREC_ADMIN_KEY"))
    key = admin_key or os.environ.get("TRACKREC_ADMIN_KEY") or new_admin_key()
    store.set_admin_key(key)
    users = sessions[S.USER].astype(str).drop_duplicates().tolist()
    tokens = {u: store.issue_token(u) for u in users[:demo_users]}
    s_frame, c_frame = store.frames()
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    for suffix in ("-wal", "-shm"):
        p = Path(str(tmp) + suffix)
        if p.exists():
            p.unlink()
    os.replace(tmp, path)
    progress("training the first model")
    bundle = train(s_frame, c_frame, progress=progress, **(train_params or {}))
    version = wd.publish(bundle)
    return InitResult(store=path, version=version, admin_key=None if key_from_env else key, tokens=tokens,
                      tracks=len(c_frame), users=len(set(users)), plays=len(s_frame), generated=generated)
