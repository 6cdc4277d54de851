"""HTTP routes: parse, check access, call the store / live model, format. No logic lives only here."""

from __future__ import annotations

import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ..exceptions import ModelFormatError, ModelUnavailableError, UnknownTrackError
from .auth import Principal, authenticate, require_admin, require_user_access
from .live import History, LiveModel
from .schemas import ID_PATTERN, ActivateIn, BlockIn, ListenAck, ListenBatch, ListenIn, TrackBatch
from .store import Event, StoreError

router = APIRouter()

UserId = Annotated[str, Path(pattern=ID_PATTERN, description="User id.")]
TrackId = Annotated[str, Path(pattern=ID_PATTERN, description="Track id.")]


def _live(request: Request) -> LiveModel:
    try:
        return request.app.state.holder.check()
    except ModelFormatError as exc:
        raise HTTPException(503, f"no model loaded: {exc}") from None


def _history(request: Request, live: LiveModel, user_id: str) -> History:
    t, m, s, w = request.app.state.store.user_plays(user_id)
    mms = live.bundle.meta.get("min_ms_played", 30_000)
    return History.from_plays(t, m, s, w, min_ms_played=mms)


def _track_out(live: LiveModel, i: int) -> dict:
    out = dict(live.records[i])
    out["track_id"] = str(live.track_ids[i])
    return out


# --- health, model ---------------------------------------------------------------------------
@router.get("/healthz", tags=["ops"])
def healthz() -> dict:
    """Liveness: the process answers (also the framework-ceiling endpoint of the load test)."""
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"])
def readyz(request: Request):
    """Readiness: a model is loaded and the store answers."""
    try:
        live = request.app.state.holder.check()
        request.app.state.store.catalog_seq()
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        raise HTTPException(503, f"not ready: {exc}") from None
    return {"status": "ready", "model_version": live.version}


@router.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
def metrics(request: Request):
    """Prometheus metrics of this worker process."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    return PlainTextResponse(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/me", tags=["auth"])
def me(p: Annotated[Principal, Depends(authenticate)]) -> dict:
    """Who the credentials belong to."""
    return {"kind": p.kind, "user_id": p.user_id}


@router.get("/v1/model", tags=["model"])
def model_info(request: Request, _: Annotated[Principal, Depends(authenticate)]) -> dict:
    """The loaded model: version, training time, strategies, metrics."""
    live = _live(request)
    b = live.bundle
    m = b.metrics
    return {"version": live.version, "trained_at": b.meta.get("created_at"), "data_cutoff": b.dataset.data_cutoff,
            "default_strategy": b.default_strategy, "strategies": b.strategies,
            "tracks": {"model": live.n_model_tracks, "added_since_training": len(live.new_track_ids)},
            "metrics": {k: m.get(k) for k in ("ndcg@10", "recall@20", "map@10", "hitrate@10", "roc_auc", "accuracy")
                        if k in m} | {"models": m.get("models", {})},
            "versions": request.app.state.holder.workdir.versions()}


@router.post("/v1/admin/reload", tags=["model"])
def reload(request: Request, _: Annotated[Principal, Depends(require_admin)]) -> dict:
    """Load models/CURRENT now (other workers notice the pointer on their next request)."""
    try:
        live = request.app.state.holder.load()
    except ModelFormatError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"version": live.version}


@router.post("/v1/admin/rollback", tags=["model"])
def rollback(request: Request, _: Annotated[Principal, Depends(require_admin)]) -> dict:
    """Point CURRENT at the previous version and load it (every worker follows CURRENT)."""
    holder = request.app.state.holder
    try:
        version = holder.workdir.rollback()
        live = holder.load()
    except ModelFormatError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"version": live.version, "rolled_back_to": version}


@router.post("/v1/admin/activate", tags=["model"])
def activate(request: Request, body: ActivateIn, _: Annotated[Principal, Depends(require_admin)]) -> dict:
    """Make a saved version current (roll forward again after a rollback)."""
    holder = request.app.state.holder
    if body.version not in holder.workdir.versions():
        raise HTTPException(404, f"no model version '{body.version}'; saved: {', '.join(holder.workdir.versions())}")
    holder.workdir.set_current(body.version)
    return {"version": holder.load().version}


# --- catalogue ---------------------------------------------------------------------------
@router.get("/v1/tracks", tags=["catalogue"])
def search_tracks(request: Request, _: Annotated[Principal, Depends(authenticate)],
                  q: Annotated[str | None, Query(max_length=200, description="Matches title, artist, album, genre or mood.")] = None,
                  title: Annotated[str | None, Query(max_length=200)] = None,
                  artist: Annotated[str | None, Query(max_length=200)] = None,
                  genre: Annotated[str | None, Query(max_length=100)] = None,
                  mood: Annotated[str | None, Query(max_length=100)] = None,
                  explicit: bool | None = None,
                  limit: Annotated[int, Query(ge=1, le=100)] = 20,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict:
    """Search the catalogue (case-insensitive substrings), paginated."""
    total, rows = request.app.state.store.search_tracks(q=q, title=title, artist=artist, genre=genre, mood=mood,
                                                        explicit=explicit, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": rows}


@router.get("/v1/tracks/{track_id}", tags=["catalogue"])
def get_track(request: Request, track_id: TrackId, _: Annotated[Principal, Depends(authenticate)]) -> dict:
    """One track with all its catalogue fields."""
    row = request.app.state.store.track(track_id)
    if row is None:
        raise HTTPException(404, f"unknown track '{track_id}'")
    return row


@router.get("/v1/tracks/{track_id}/similar", tags=["catalogue"])
def similar(request: Request, track_id: TrackId, _: Annotated[Principal, Depends(authenticate)],
            k: Annotated[int, Query(ge=1, le=100)] = 10) -> dict:
    """Tracks that sound most alike (cosine of content embeddings); works for new tracks too."""
    live = _live(request)
    if request.app.state.store.track(track_id) is None:
        raise HTTPException(404, f"unknown track '{track_id}'")
    try:
        idx, s = live.similar_tracks(track_id, k)
    except UnknownTrackError:
        raise HTTPException(404, f"unknown track '{track_id}'") from None
    except ModelUnavailableError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"track_id": track_id, "model_version": live.version,
            "items": [_track_out(live, i) | {"score": float(v)} for i, v in zip(idx, s)]}


@router.post("/v1/tracks", tags=["catalogue"], status_code=201)
def add_tracks(request: Request, body: TrackBatch, _: Annotated[Principal, Depends(require_admin)]) -> dict:
    """Add tracks to the catalogue (admin); recommendable by content at once, without retraining."""
    store = request.app.state.store
    cols = {c["name"]: c["kind"] for c in store.catalog_columns}
    rows = []
    for i, t in enumerate(body.tracks):
        row = t.model_dump()
        for key, v in row.items():
            if key not in cols and key not in ("track_id", "title", "artist", "album", "genre", "mood", "explicit"):
                raise HTTPException(422, f"tracks[{i}].{key}: not a catalogue column; known: {', '.join(cols)}")
            kind = cols.get(key)
            if kind == "float" and v is not None and not isinstance(v, bool) and not isinstance(v, (int, float)):
                raise HTTPException(422, f"tracks[{i}].{key}: expected a number, got {v!r}")
            if kind == "float" and isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isfinite(v):
                raise HTTPException(422, f"tracks[{i}].{key}: expected a finite number")
        rows.append(row)
    ids = [r["track_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise HTTPException(422, "tracks: the same track_id appears twice in the request")
    try:
        store.add_tracks(rows)
    except StoreError as exc:
        raise HTTPException(409, str(exc)) from None
    live = request.app.state.holder.refresh_catalog()
    return {"added": len(rows), "track_ids": ids, "model_version": live.version if live else None}


# --- listens ------------------------------------------------------------------------------
def _store_events(request: Request, events: list[Event]) -> ListenAck:
    try:
        ids, stored = request.app.state.store.add_events(events)
    except UnknownTrackError as exc:
        raise HTTPException(422, str(exc)) from None
    request.app.state.metrics.listens.inc(len(events))
    return ListenAck(accepted=len(events), stored=stored, duplicates=len(events) - stored, event_ids=ids)


def _event(user_id: str, e: ListenIn) -> Event:
    return Event(user_id=user_id, track_id=e.track_id,
                 played_at_ms=int(e.played_at.timestamp() * 1000) if e.played_at else None,
                 ms_played=e.ms_played, skipped=e.skipped, event_id=e.event_id, rec_id=e.rec_id,
                 strategy=e.rec_id.split(".", 1)[0] if e.rec_id else None)


@router.post("/v1/listens", tags=["listens"], response_model=ListenAck)
def post_listens(request: Request, body: ListenBatch, p: Annotated[Principal, Depends(authenticate)]):
    """A batch of listening events (up to 1000); acknowledged once durably stored. A user token may
    only send its own user's events; the admin key any user's."""
    if not p.is_admin:
        for i, e in enumerate(body.events):
            if e.user_id != p.user_id:
                raise HTTPException(403, f"events[{i}].user_id: this token cannot write for user '{e.user_id}'")
    return _store_events(request, [_event(e.user_id, e) for e in body.events])


@router.post("/v1/users/{user_id}/listens", tags=["listens"], response_model=ListenAck)
def post_listen(request: Request, user_id: UserId, body: ListenIn):
    """One listening event of ``user_id``; acknowledged once durably stored."""
    require_user_access(request, user_id)
    return _store_events(request, [_event(user_id, body)])


@router.get("/v1/users/{user_id}/history", tags=["listens"])
def history(request: Request, user_id: UserId,
            limit: Annotated[int, Query(ge=1, le=1000)] = 50,
            offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    """The user's plays, newest first, paginated."""
    require_user_access(request, user_id)
    store = request.app.state.store
    return {"user_id": user_id, "total": store.count_events(user_id), "limit": limit, "offset": offset,
            "items": store.user_events(user_id, limit=limit, offset=offset)}


# --- recommendations ----------------------------------------------------------------------
@router.get("/v1/users/{user_id}/recommendations", tags=["recommendations"])
def recommendations(request: Request, user_id: UserId,
                    strategy: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,40}$",
                                                          description="Model name (default: the model's default).")] = None,
                    k: Annotated[int, Query(ge=1, le=100)] = 10,
                    exclude_listened: bool = True,
                    allow: Annotated[list[str] | None, Query(max_length=1000, description="Only these track ids.")] = None,
                    deny: Annotated[list[str] | None, Query(max_length=1000, description="Never these track ids.")] = None,
                    explicit: Annotated[bool, Query(description="false: leave out explicit tracks.")] = True,
                    max_per_artist: Annotated[int | None, Query(ge=1, le=100)] = None) -> dict:
    """Top-k for the user from their current history (live: the latest listen counts)."""
    require_user_access(request, user_id)
    live = _live(request)
    if strategy is not None and strategy not in live.strategies:
        raise HTTPException(422, f"strategy: '{strategy}' is not in model {live.version}; "
                                 f"available: {', '.join(live.strategies)}")
    hist = _history(request, live, user_id)
    blocks = request.app.state.store.blocks(user_id)
    try:
        rec = live.recommend(user_id, hist, strategy=strategy, k=k, exclude_listened=exclude_listened,
                             allow=allow, deny=deny, blocked_tracks=blocks.get("track", []),
                             blocked_artists=blocks.get("artist", []), allow_explicit=explicit,
                             max_per_artist=max_per_artist)
    except UnknownTrackError as exc:
        raise HTTPException(422, str(exc)) from None
    request.app.state.metrics.recs.labels(rec.strategy).inc()
    rec_id = f"{rec.strategy}.{secrets.token_hex(8)}"
    items = []
    for rank, (i, s, why) in enumerate(zip(rec.track_idx, rec.scores, rec.reasons), start=1):
        item = _track_out(live, int(i)) | {"rank": rank, "score": float(s), "reason": why}
        if rec.probability:
            item["probability"] = float(s)
        items.append(item)
    # a plain JSONResponse: the items are already JSON-ready, skip FastAPI's re-encoding (hot path)
    return JSONResponse({"recommendation_id": rec_id, "user_id": user_id, "strategy": rec.strategy,
                         "model_version": live.version, "cold_start": rec.cold_start, "k": k, "items": items})


@router.get("/v1/users/{user_id}/profile", tags=["recommendations"])
def profile(request: Request, user_id: UserId,
            strategy: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,40}$")] = None) -> dict:
    """The user's taste profile: the vector the content models use, and a readable summary."""
    require_user_access(request, user_id)
    live = _live(request)
    hist = _history(request, live, user_id)
    try:
        vec, total, names = live.profile(hist, strategy)
    except ModelUnavailableError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"user_id": user_id, "model_version": live.version, "cold_start": total <= 0,
            "vector": [{"feature": n, "value": round(float(v), 6)} for n, v in zip(names, vec)],
            "summary": live.taste_summary(hist)}


# --- blocks, user data --------------------------------------------------------------------
@router.get("/v1/users/{user_id}/blocks", tags=["users"])
def get_blocks(request: Request, user_id: UserId) -> dict:
    """The user's lasting "never play this again" list (tracks and artists)."""
    require_user_access(request, user_id)
    return {"user_id": user_id} | request.app.state.store.blocks(user_id)


@router.post("/v1/users/{user_id}/blocks", tags=["users"], status_code=201)
def add_block(request: Request, user_id: UserId, body: BlockIn) -> dict:
    """Never recommend this track (or any track of this artist) to the user again, in any strategy."""
    require_user_access(request, user_id)
    store = request.app.state.store
    if body.kind == "track" and store.track(body.value) is None:
        raise HTTPException(404, f"unknown track '{body.value}'")
    store.add_block(user_id, body.kind, body.value)
    return {"user_id": user_id} | store.blocks(user_id)


@router.delete("/v1/users/{user_id}/blocks", tags=["users"])
def remove_block(request: Request, user_id: UserId, kind: Annotated[str, Query(pattern="^(track|artist)$")],
                 value: Annotated[str, Query(min_length=1, max_length=300)]) -> dict:
    """Lift a block."""
    require_user_access(request, user_id)
    store = request.app.state.store
    if not store.remove_block(user_id, kind, value):
        raise HTTPException(404, f"no {kind} block '{value}' for user '{user_id}'")
    return {"user_id": user_id} | store.blocks(user_id)


@router.get("/v1/users/{user_id}/export", tags=["users"])
def export_user(request: Request, user_id: UserId) -> dict:
    """Everything stored about the user (events, blocks, number of tokens)."""
    require_user_access(request, user_id)
    store = request.app.state.store
    if not store.user_exists(user_id):
        raise HTTPException(404, f"unknown user '{user_id}'")
    return store.export_user(user_id)


@router.delete("/v1/users/{user_id}", tags=["users"])
def delete_user(request: Request, user_id: UserId, _: Annotated[Principal, Depends(require_admin)]) -> dict:
    """Delete every stored row about the user (admin). Their next request is a cold start."""
    store = request.app.state.store
    if not store.user_exists(user_id):
        raise HTTPException(404, f"unknown user '{user_id}'")
    return {"user_id": user_id, "deleted": store.delete_user(user_id)}


@router.post("/v1/users/{user_id}/tokens", tags=["auth"], status_code=201)
def issue_token(request: Request, user_id: UserId, _: Annotated[Principal, Depends(require_admin)]) -> dict:
    """Issue a new token for the user (admin; the same as ``trackrec token USER``)."""
    return {"user_id": user_id, "token": request.app.state.store.issue_token(user_id)}


@router.get("/v1/stats/strategies", tags=["recommendations"])
def strategy_stats(request: Request, _: Annotated[Principal, Depends(authenticate)]) -> dict:
    """Play-through and skip rate of listens that came from each strategy's recommendations."""
    return {"strategies": request.app.state.store.strategy_stats()}
