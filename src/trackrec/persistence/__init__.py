"""Saving and loading models (safe: arrays + JSON, no pickle) and the workdir layout."""

from .artifact import FORMAT_VERSION, load_bundle, save_bundle
from .workdir import DEFAULT_WORKDIR, Workdir, resolve_model_path

__all__ = ["FORMAT_VERSION", "load_bundle", "save_bundle", "Workdir", "DEFAULT_WORKDIR", "resolve_model_path"]
