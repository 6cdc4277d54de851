"""The model artefact: ``.npy`` arrays plus a JSON manifest with SHA-256 checksums.

A saved model never contains pickled objects and is loaded with ``allow_pickle=False``: a file
from an untrusted source cannot execute code. A missing, truncated or altered file is refused
with a :class:`~trackrec.exceptions.ModelFormatError` naming it.

Layout of one model version (a directory)::

    manifest.json          format, versions, strategies, parameters, metrics, checksums
    arrays/<name>.npy      one array per entry of manifest["arrays"]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .. import __version__
from ..data.dataset import Dataset
from ..data.idmap import IdMap
from ..exceptions import ModelFormatError
from ..models import MODELS
from ..models.bundle import ModelBundle

__all__ = ["FORMAT", "FORMAT_VERSION", "save_bundle", "load_bundle", "new_version_name"]

FORMAT = "trackrec-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def new_version_name() -> str:
    """``20260101T120000-123456-1a2b3c``: UTC time to the microsecond, so that names sort in
    creation order (rollback relies on it) even for versions saved within the same second."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"-{now.microsecond:06d}-" + uuid.uuid4().hex[:6]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _str_array(values) -> np.ndarray:
    arr = np.asarray(["" if v is None else str(v) for v in values], dtype=str)
    return arr if arr.size else np.zeros(0, dtype="<U1")


def _dataset_arrays(ds: Dataset) -> tuple[dict, dict[str, np.ndarray]]:
    arrays = {"users": _str_array(ds.users.external_ids), "tracks": _str_array(ds.tracks.external_ids),
              "has_content": ds.has_content}
    for name, m in (("positives", ds.positives), ("played", ds.played)):
        m = sp.csr_matrix(m)
        arrays[f"{name}.indptr"] = m.indptr.astype(np.int64)
        arrays[f"{name}.indices"] = m.indices.astype(np.int32)
        if name == "positives":
            arrays[f"{name}.data"] = m.data.astype(np.float32)
    catalog_cols = []
    if ds.catalog is not None:
        for c in ds.catalog.columns:
            s = ds.catalog[c]
            if pd.api.types.is_bool_dtype(s):
                kind, arr = "bool", s.to_numpy(dtype=bool)
            elif pd.api.types.is_numeric_dtype(s):
                kind, arr = "float", s.to_numpy(dtype=np.float64)
            else:
                kind, arr = "str", _str_array(s.where(s.notna(), None))
                arrays[f"catalog.{c}.isna"] = s.isna().to_numpy()
            arrays[f"catalog.{c}"] = arr
            catalog_cols.append({"name": str(c), "kind": kind})
    meta = {"catalog_columns": catalog_cols if ds.catalog is not None else None,
            "data_cutoff": ds.data_cutoff, "fingerprint": ds.fingerprint, "stats": ds.stats}
    return meta, arrays


def _dataset_from(meta: dict, a: dict[str, np.ndarray]) -> Dataset:
    users, tracks = IdMap(a["users"].astype(object)), IdMap(a["tracks"].astype(object))
    shape = (len(users), len(tracks))
    pos = sp.csr_matrix((a["positives.data"], a["positives.indices"], a["positives.indptr"]), shape=shape)
    played = sp.csr_matrix((np.ones(len(a["played.indices"]), bool), a["played.indices"], a["played.indptr"]),
                           shape=shape)
    catalog = None
    if meta["catalog_columns"] is not None:
        cols = {}
        for col in meta["catalog_columns"]:
            c, kind = col["name"], col["kind"]
            v = a[f"catalog.{c}"]
            if kind == "str":
                s = pd.Series(v.astype(object))
                cols[c] = s.where(~a[f"catalog.{c}.isna"], None)
            else:
                cols[c] = v
        catalog = pd.DataFrame(cols)
    return Dataset(users=users, tracks=tracks, positives=pos, played=played, catalog=catalog,
                   has_content=a["has_content"].astype(bool), data_cutoff=meta["data_cutoff"],
                   fingerprint=meta["fingerprint"], stats=meta["stats"])


def save_bundle(bundle: ModelBundle, directory: str | Path) -> Path:
    """Write ``bundle`` to ``directory`` atomically (written beside it, then renamed into place).

    ``directory`` must not exist yet. Returns its path.
    """
    directory = Path(directory)
    if directory.exists():
        raise FileExistsError(f"{directory} already exists; model versions are never overwritten")
    tmp = directory.with_name(f".tmp-{directory.name}-{uuid.uuid4().hex[:6]}")
    (tmp / "arrays").mkdir(parents=True)
    try:
        ds_meta, arrays = _dataset_arrays(bundle.dataset)
        all_arrays = {f"dataset.{k}": v for k, v in arrays.items()}
        models_meta = {}
        for name, model in bundle.models.items():
            m_meta, m_arrays = model.get_params_state()
            models_meta[name] = {"class": name, "state": m_meta, "arrays": sorted(m_arrays)}
            all_arrays.update({f"model.{name}.{k}": v for k, v in m_arrays.items()})
        entries, by_digest = {}, {}
        for key, arr in all_arrays.items():
            arr = np.ascontiguousarray(arr)
            if arr.dtype == object:
                raise TypeError(f"array '{key}' has dtype object; it would need pickle")
            fname = f"arrays/{key}.npy"
            np.save(tmp / fname, arr, allow_pickle=False)
            entry = {"file": fname, "sha256": _sha256(tmp / fname), "bytes": (tmp / fname).stat().st_size}
            if entry["sha256"] in by_digest:  # the same array twice (e.g. the ranker's EASE): one file
                (tmp / fname).unlink()
                entry = dict(by_digest[entry["sha256"]])
            by_digest.setdefault(entry["sha256"], entry)
            entries[key] = entry
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "trackrec_version": __version__,
            "numpy_version": np.__version__,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "default_strategy": bundle.default_strategy, "strategies": list(bundle.models),
            "metrics": bundle.metrics, "meta": bundle.meta, "dataset": ds_meta, "models": models_meta,
            "arrays": entries,
        }
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, default=_json_default)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp, datetime)):
        return o.isoformat()
    raise TypeError(f"cannot store {type(o).__name__} in a model manifest")


def read_manifest(directory: str | Path) -> dict:
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise ModelFormatError(f"{directory}: no such model directory")
    if not path.exists():
        raise ModelFormatError(f"{path}: missing; {directory} is not a trackrec model")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{path}: not valid JSON ({exc}); the model is truncated or corrupted") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFormatError(f"{path}: not a trackrec model manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(f"{path}: model format version {manifest.get('format_version')!r} is not "
                               f"supported by trackrec {__version__} (expected {FORMAT_VERSION}); retrain")
    return manifest


def load_bundle(directory: str | Path) -> ModelBundle:
    """Load a model version saved by :func:`save_bundle`, verifying every checksum first."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    arrays, loaded = {}, {}
    try:
        for key, entry in manifest["arrays"].items():
            if entry.get("file") in loaded:  # stored once, shared
                arrays[key] = loaded[entry["file"]]
                continue
            path = directory / entry["file"]
            if Path(entry["file"]).is_absolute() or ".." in Path(entry["file"]).parts:
                raise ModelFormatError(f"{directory / MANIFEST}: array path {entry['file']!r} leaves the model directory")
            if not path.exists():
                raise ModelFormatError(f"{path}: missing from the model")
            if path.stat().st_size != entry["bytes"] or _sha256(path) != entry["sha256"]:
                raise ModelFormatError(f"{path}: checksum mismatch; the file was truncated or modified")
            try:
                arrays[key] = loaded[entry["file"]] = np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise ModelFormatError(f"{path}: unreadable array ({exc})") from None
        ds_arrays = {k[len("dataset."):]: v for k, v in arrays.items() if k.startswith("dataset.")}
        dataset = _dataset_from(manifest["dataset"], ds_arrays)
        models = {}
        for name, entry in manifest["models"].items():
            if entry["class"] not in MODELS:
                raise ModelFormatError(f"{directory}: model uses strategy '{entry['class']}', which this "
                                       f"trackrec version does not know")
            model = MODELS[entry["class"]]()
            m_arrays = {k: arrays[f"model.{name}.{k}"] for k in entry["arrays"]}
            model.set_params_state(dataset, entry["state"], m_arrays)
            models[name] = model
    except (KeyError, TypeError) as exc:
        raise ModelFormatError(f"{directory / MANIFEST}: incomplete manifest (missing {exc})") from None
    return ModelBundle(dataset=dataset, models=models, default_strategy=manifest["default_strategy"],
                       metrics=manifest["metrics"], meta=manifest["meta"] | {
                           "version": directory.name, "created_at": manifest["created_at"],
                           "trackrec_version": manifest["trackrec_version"], "path": str(directory)})
