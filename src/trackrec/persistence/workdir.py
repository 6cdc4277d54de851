"""The working directory of one setup: data, model versions with a CURRENT pointer, outputs.

::

    <workdir>/
      data/catalog.csv|parquet     data/sessions.csv|parquet
      models/<version>/            one saved model per training run, never overwritten
      models/CURRENT               the version in use (the service follows it; roll back by
                                   pointing it at an older version)
      outputs/                     batch recommendations, reports, plots
"""

from __future__ import annotations

import os
from pathlib import Path

from ..exceptions import ModelFormatError
from ..models.bundle import ModelBundle
from .artifact import MANIFEST, load_bundle, new_version_name, save_bundle

__all__ = ["Workdir", "DEFAULT_WORKDIR", "resolve_model_path"]

DEFAULT_WORKDIR = "trackrec-work"


class Workdir:
    def __init__(self, root: str | Path = DEFAULT_WORKDIR):
        self.root = Path(root)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    def _data_file(self, stem: str) -> Path:
        for ext in (".parquet", ".csv"):
            p = self.data_dir / f"{stem}{ext}"
            if p.exists():
                return p
        return self.data_dir / f"{stem}.csv"

    @property
    def catalog_path(self) -> Path:
        return self._data_file("catalog")

    @property
    def sessions_path(self) -> Path:
        return self._data_file("sessions")

    def ensure(self) -> Workdir:
        for d in (self.data_dir, self.models_dir, self.outputs_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self

    # --- model versions ---------------------------------------------------------------
    def versions(self) -> list[str]:
        """Saved versions, oldest first."""
        if not self.models_dir.is_dir():
            return []
        return sorted(p.name for p in self.models_dir.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists())

    def current_version(self) -> str | None:
        p = self.models_dir / "CURRENT"
        if not p.exists():
            return None
        v = p.read_text(encoding="utf-8").strip()
        return v or None

    def current_model_path(self) -> Path:
        v = self.current_version()
        if v is None:
            raise ModelFormatError(f"no trained model in {self.root} (models/CURRENT is missing); "
                                   f"run 'trackrec train --workdir {self.root}' first")
        return self.models_dir / v

    def set_current(self, version: str) -> None:
        """Point CURRENT at ``version`` atomically (write a temp file, then rename over)."""
        if not (self.models_dir / version / MANIFEST).exists():
            raise ModelFormatError(f"{self.models_dir / version}: no such model version")
        tmp = self.models_dir / f".CURRENT.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(version + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.models_dir / "CURRENT")

    def publish(self, bundle: ModelBundle, version: str | None = None) -> str:
        """Save ``bundle`` as a new version and make it current. Returns the version name."""
        self.ensure()
        version = version or new_version_name()
        save_bundle(bundle, self.models_dir / version)
        self.set_current(version)
        return version

    def rollback(self) -> str:
        """Make the version before the current one current again. Returns it."""
        cur = self.current_version()
        older = [v for v in self.versions() if cur is None or v < cur]
        if not older:
            raise ModelFormatError(f"no model version older than {cur!r} in {self.models_dir} to roll back to")
        self.set_current(older[-1])
        return older[-1]

    def load_current(self) -> ModelBundle:
        return load_bundle(self.current_model_path())


def resolve_model_path(model: str | Path | None, workdir: str | Path) -> Path:
    """A model given as a version directory, a ``models`` directory or a workdir -> version directory."""
    if model is None:
        return Workdir(workdir).current_model_path()
    p = Path(model)
    if (p / MANIFEST).exists():
        return p
    if (p / "CURRENT").exists():
        return p / (p / "CURRENT").read_text(encoding="utf-8").strip()
    if (p / "models" / "CURRENT").exists():
        return Workdir(p).current_model_path()
    if not p.exists():
        raise ModelFormatError(f"{p}: no such model")
    raise ModelFormatError(f"{p}: not a trackrec model (no {MANIFEST})")
