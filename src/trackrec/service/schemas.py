"""Request and response bodies (validated by pydantic; a bad field is a 422 naming it)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$"
REC_ID_PATTERN = r"^[a-z0-9-]{1,40}\.[0-9a-f]{8,32}$"


class ListenIn(BaseModel):
    """One listening event. ``event_id`` makes retries safe: an id already stored is not stored twice."""

    model_config = ConfigDict(extra="forbid")

    track_id: str = Field(pattern=ID_PATTERN)
    played_at: datetime | None = Field(None, description="When the play started (ISO 8601; default: now).")
    ms_played: float | None = Field(None, ge=0, le=86_400_000)
    skipped: bool = False
    event_id: str | None = Field(None, pattern=ID_PATTERN, description="Client-chosen id for idempotent retries.")
    rec_id: str | None = Field(None, pattern=REC_ID_PATTERN,
                               description="The recommendation id the play came from.")

    @field_validator("played_at")
    @classmethod
    def _not_future(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return v
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        if v > datetime.now(timezone.utc) + timedelta(days=1):
            raise ValueError("played_at is in the future")
        return v


class ListenForUser(ListenIn):
    user_id: str = Field(pattern=ID_PATTERN)


class ListenBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[ListenForUser] = Field(min_length=1, max_length=1000)


class ListenAck(BaseModel):
    accepted: int = Field(description="Events in the request, all durably stored when this returns.")
    stored: int = Field(description="Newly stored (the rest were already stored: a retried batch).")
    duplicates: int
    event_ids: list[str]


class TrackIn(BaseModel):
    """A catalogue track. Extra numeric/text feature columns are allowed if the catalogue has them."""

    model_config = ConfigDict(extra="allow")

    track_id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=300)
    artist: str = Field(min_length=1, max_length=300)
    album: str | None = Field(None, max_length=300)
    genre: str | None = Field(None, max_length=200)
    mood: str | None = Field(None, max_length=200)
    explicit: bool = False


class TrackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tracks: list[TrackIn] = Field(min_length=1, max_length=1000)


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["track", "artist"]
    value: str = Field(min_length=1, max_length=300)


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")
