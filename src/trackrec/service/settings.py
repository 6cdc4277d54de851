"""Service settings: from arguments, else the environment (``TRACKREC_*``), else defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Parameters
    ----------
    workdir : path
        The setup directory holding ``store.db`` and ``models/`` (``TRACKREC_WORKDIR``).
    admin_key : str or None
        Admin API key (``TRACKREC_ADMIN_KEY``); overrides the key hash stored by ``trackrec init``.
    max_body_bytes : int
        Larger request bodies are refused with 413 (``TRACKREC_MAX_BODY_BYTES``).
    max_batch : int
        Most events (or tracks) in one request (``TRACKREC_MAX_BATCH``).
    log_json : bool
        Structured JSON log lines (``TRACKREC_LOG_JSON``, default on).
    """

    workdir: Path = Path("trackrec-work")
    admin_key: str | None = None
    max_body_bytes: int = 1_000_000
    max_batch: int = 1000
    log_json: bool = True
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        env = {
            "workdir": Path(os.environ.get("TRACKREC_WORKDIR", "trackrec-work")),
            "admin_key": os.environ.get("TRACKREC_ADMIN_KEY") or None,
            "max_body_bytes": _int_env("TRACKREC_MAX_BODY_BYTES", 1_000_000),
            "max_batch": _int_env("TRACKREC_MAX_BATCH", 1000),
            "log_json": os.environ.get("TRACKREC_LOG_JSON", "1") not in ("0", "false", "no"),
            "log_level": os.environ.get("TRACKREC_LOG_LEVEL", "INFO").upper(),
        }
        env.update({k: v for k, v in overrides.items() if v is not None})
        env["workdir"] = Path(env["workdir"])
        return cls(**env)
