"""The music player service: HTTP API over an embedded SQLite store, live recommendations,
auth, hot model reload and a browser dashboard.

=================  ============================================================
module             what it holds
=================  ============================================================
``app``            ``create_app(workdir)``: FastAPI app, middleware, logging, metrics
``routes``         the HTTP endpoints (thin: parse, authorise, call, format)
``store``          ``Store`` (SQLite WAL), ``load_frames(workdir)`` for training
``live``           ``LiveModel`` (model + current catalogue), ``ModelHolder`` (reload)
``auth``           admin key and per-user tokens
``bootstrap``      ``init_workdir``: what ``trackrec init`` does
``commands``       the ``init``, ``serve`` and ``token`` CLI commands
=================  ============================================================
"""

__all__ = ["create_app", "load_frames"]


def __getattr__(name):  # lazy: importing the package does not import FastAPI
    if name == "create_app":
        from .app import create_app
        return create_app
    if name == "load_frames":
        from .store import load_frames
        return load_frames
    raise AttributeError(name)
