"""Who may do what.

* **Admin**: the admin API key (``Authorization: Bearer <key>`` or ``X-Admin-Key``), from
  ``TRACKREC_ADMIN_KEY`` or the hash ``trackrec init`` stored. Compared in constant time, never
  logged, never sent to a browser. Admin may act for any user.
* **User**: a token issued by ``trackrec token USER`` (only its SHA-256 is stored). A user token
  reads and writes that user's data and nobody else's.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request

from .store import hash_secret

__all__ = ["Principal", "authenticate", "require_user_access", "require_admin"]


@dataclass(frozen=True)
class Principal:
    kind: str                  # "admin" or "user"
    user_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


def _credential(request: Request) -> str | None:
    key = request.headers.get("x-admin-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _unauthorized(msg: str) -> HTTPException:
    return HTTPException(status_code=401, detail=msg, headers={"WWW-Authenticate": "Bearer"})


def authenticate(request: Request) -> Principal:
    """The caller: admin or a user; 401 without valid credentials."""
    cred = _credential(request)
    if cred is None:
        raise _unauthorized("missing credentials: send 'Authorization: Bearer <user token or admin key>'")
    state = request.app.state
    digest = hash_secret(cred)
    admin_hash = state.admin_key_hash
    if admin_hash is not None and hmac.compare_digest(digest, admin_hash):
        return Principal("admin")
    user = state.store.user_for_token(cred)
    if user is None:
        raise _unauthorized("invalid token or admin key")
    return Principal("user", user)


def require_admin(request: Request) -> Principal:
    p = authenticate(request)
    if not p.is_admin:
        raise HTTPException(status_code=403, detail="this endpoint needs the admin API key")
    return p


def require_user_access(request: Request, user_id: str) -> Principal:
    """The caller must be ``user_id`` (their token) or admin; 403 otherwise."""
    p = authenticate(request)
    if p.is_admin or p.user_id == user_id:
        return p
    raise HTTPException(status_code=403, detail=f"this token cannot access user '{user_id}'")
