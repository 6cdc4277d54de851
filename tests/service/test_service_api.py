"""The HTTP API: every endpoint's success and failure paths, auth, validation."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

ADMIN = {"Authorization": "Bearer test-admin-key-0123456789abcdef"}


def H(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def users(svc):
    """Two demo users with tokens: (user_a, token_a, user_b, token_b)."""
    _, _, res = svc
    (a, ta), (b, tb) = list(res.tokens.items())[:2]
    return a, ta, b, tb


def new_user(app, name: str) -> tuple[str, str]:
    return name, app.state.store.issue_token(name)


def some_tracks(client, n=5, **filters):
    r = client.get("/v1/tracks", params={"limit": n, **filters}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["items"]


# --- ops ----------------------------------------------------------------------------------
def test_health_ready_metrics_docs(svc):
    client, _, res = svc
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["model_version"] == res.version
    assert r.headers["x-request-id"]
    assert client.get("/healthz", headers={"X-Request-ID": "abc123"}).headers["x-request-id"] == "abc123"
    m = client.get("/metrics")
    assert m.status_code == 200 and "trackrec_http_requests_total" in m.text
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_model_info(svc, users):
    client, _, res = svc
    r = client.get("/v1/model", headers=H(users[1]))
    body = r.json()
    assert r.status_code == 200
    assert body["version"] == res.version and body["default_strategy"] == "affinity-lr"
    assert {"popularity", "similarity", "affinity-lr", "affinity-lr-concat"} <= set(body["strategies"])
    assert "ndcg@10" in body["metrics"] and body["trained_at"]
    assert client.get("/v1/model").status_code == 401


# --- auth ---------------------------------------------------------------------------------
def test_auth_missing_wrong_and_cross_user(svc, users):
    client, _, _ = svc
    a, ta, b, tb = users
    r = client.get(f"/v1/users/{a}/history")
    assert r.status_code == 401 and "missing credentials" in r.json()["detail"]
    r = client.get(f"/v1/users/{a}/history", headers=H("not-a-token"))
    assert r.status_code == 401 and r.json()["detail"] == "invalid token or admin key"
    assert client.get(f"/v1/users/{a}/history", headers=H(ta)).status_code == 200
    for path in ("history", "recommendations", "profile", "blocks", "export"):
        r = client.get(f"/v1/users/{b}/{path}", headers=H(ta))
        assert r.status_code == 403, path
        assert r.json()["detail"] == f"this token cannot access user '{b}'"
    # A cannot write B's listens, blocks, or act as admin
    track = some_tracks(client, 1)[0]["track_id"]
    assert client.post(f"/v1/users/{b}/listens", json={"track_id": track}, headers=H(ta)).status_code == 403
    r = client.post("/v1/listens", json={"events": [{"user_id": b, "track_id": track}]}, headers=H(ta))
    assert r.status_code == 403 and "events[0].user_id" in r.json()["detail"]
    assert client.post(f"/v1/users/{b}/blocks", json={"kind": "artist", "value": "X"}, headers=H(ta)).status_code == 403
    for method, path in (("post", "/v1/admin/reload"), ("post", "/v1/admin/rollback"), ("delete", f"/v1/users/{b}"),
                         ("post", f"/v1/users/{b}/tokens")):
        r = getattr(client, method)(path, headers=H(ta))
        assert r.status_code == 403 and r.json()["detail"] == "this endpoint needs the admin API key"
    # admin may act for anyone, by bearer or X-Admin-Key
    assert client.get(f"/v1/users/{b}/history", headers=ADMIN).status_code == 200
    assert client.get(f"/v1/users/{b}/history",
                      headers={"X-Admin-Key": ADMIN["Authorization"].split()[1]}).status_code == 200
    assert client.get("/v1/me", headers=H(tb)).json() == {"kind": "user", "user_id": b}
    assert client.get("/v1/me", headers=ADMIN).json() == {"kind": "admin", "user_id": None}


def test_admin_key_never_logged_or_served(svc, caplog):
    client, app, _ = svc
    key = ADMIN["Authorization"].split()[1]
    with caplog.at_level(logging.INFO, logger="trackrec"):
        client.get("/v1/me", headers=ADMIN)
        client.get("/v1/me", headers=H(key + "x"))
    assert caplog.records, "the access log should have lines"
    assert all(key not in r.getMessage() for r in caplog.records)
    assert key not in client.get("/").text
    assert all(key not in client.get(f"/static/{f}").text for f in ("app.js", "style.css"))
    # only a hash is stored
    assert app.state.store.admin_key_hash() != key and len(app.state.store.admin_key_hash()) == 64


def test_admin_issues_token(svc):
    client, _, _ = svc
    r = client.post("/v1/users/newbie-tok/tokens", headers=ADMIN)
    assert r.status_code == 201
    tok = r.json()["token"]
    assert client.get("/v1/me", headers=H(tok)).json()["user_id"] == "newbie-tok"


# --- catalogue ----------------------------------------------------------------------------
def test_search_tracks_and_pagination(svc, users):
    client, _, _ = svc
    tb = users[3]
    r = client.get("/v1/tracks", params={"genre": "rock", "limit": 5}, headers=H(tb))
    body = r.json()
    assert r.status_code == 200 and body["total"] > 5 and len(body["items"]) == 5
    assert all("rock" in t["genre"] for t in body["items"])
    page2 = client.get("/v1/tracks", params={"genre": "rock", "limit": 5, "offset": 5}, headers=H(tb)).json()
    assert not {t["track_id"] for t in page2["items"]} & {t["track_id"] for t in body["items"]}
    first = body["items"][0]
    by_title = client.get("/v1/tracks", params={"q": first["title"]}, headers=H(tb)).json()
    assert first["track_id"] in [t["track_id"] for t in by_title["items"]]
    by_artist = client.get("/v1/tracks", params={"artist": first["artist"]}, headers=H(tb)).json()
    assert all(t["artist"] == first["artist"] for t in by_artist["items"])
    mood = client.get("/v1/tracks", params={"mood": "calm", "limit": 3}, headers=H(tb)).json()
    assert all("calm" in t["mood"] for t in mood["items"])
    assert client.get("/v1/tracks", params={"q": "%"}, headers=H(tb)).json()["total"] == 0  # LIKE escaped
    r = client.get("/v1/tracks", params={"limit": 0}, headers=H(tb))
    assert r.status_code == 422 and r.json()["detail"].startswith("query.limit:")
    assert client.get("/v1/tracks").status_code == 401


def test_get_track_and_similar(svc, users):
    client, _, _ = svc
    tb = users[3]
    t = some_tracks(client, 1)[0]
    r = client.get(f"/v1/tracks/{t['track_id']}", headers=H(tb))
    assert r.status_code == 200 and r.json()["title"] == t["title"]
    r = client.get("/v1/tracks/nope", headers=H(tb))
    assert r.status_code == 404 and r.json()["detail"] == "unknown track 'nope'"
    r = client.get(f"/v1/tracks/{t['track_id']}/similar", params={"k": 4}, headers=H(tb))
    items = r.json()["items"]
    assert r.status_code == 200 and len(items) == 4
    assert t["track_id"] not in [i["track_id"] for i in items]
    assert items[0]["score"] >= items[-1]["score"]
    assert client.get("/v1/tracks/nope/similar", headers=H(tb)).status_code == 404
    assert client.get(f"/v1/tracks/{t['track_id']}/similar", params={"k": 101}, headers=H(tb)).status_code == 422


# --- listens and history --------------------------------------------------------------------
def test_listen_single_batch_history_and_idempotency(svc):
    client, app, _ = svc
    u, tok = new_user(app, "listener-1")
    tracks = [t["track_id"] for t in some_tracks(client, 3)]
    r = client.post(f"/v1/users/{u}/listens", json={"track_id": tracks[0], "ms_played": 200000,
                                                    "played_at": "2026-02-01T10:00:00Z"}, headers=H(tok))
    assert r.status_code == 200 and r.json()["stored"] == 1
    batch = {"events": [{"user_id": u, "track_id": t, "event_id": f"ev-{i}", "skipped": i == 1, "ms_played": 5000 if i == 1 else None}
                        for i, t in enumerate(tracks[1:])]}
    r = client.post("/v1/listens", json=batch, headers=H(tok))
    assert r.json() == {"accepted": 2, "stored": 2, "duplicates": 0, "event_ids": ["ev-0", "ev-1"]}
    r = client.post("/v1/listens", json=batch, headers=H(tok))  # a retried batch
    assert r.json()["stored"] == 0 and r.json()["duplicates"] == 2
    h = client.get(f"/v1/users/{u}/history", headers=H(tok)).json()
    assert h["total"] == 3
    assert [i["track_id"] for i in h["items"]] == [tracks[2], tracks[1], tracks[0]]  # newest first
    assert h["items"][0]["skipped"] is True and h["items"][2]["played_at"].startswith("2026-02-01T10:00:00")
    assert h["items"][0]["title"]
    h2 = client.get(f"/v1/users/{u}/history", params={"limit": 1, "offset": 1}, headers=H(tok)).json()
    assert [i["track_id"] for i in h2["items"]] == [tracks[1]]


def test_listen_bad_input(svc):
    client, app, _ = svc
    u, tok = new_user(app, "listener-2")
    good = some_tracks(client, 1)[0]["track_id"]
    r = client.post(f"/v1/users/{u}/listens", json={"track_id": "no-such-track"}, headers=H(tok))
    assert r.status_code == 422 and r.json()["detail"] == "events[0].track_id: unknown track 'no-such-track'"
    batch = {"events": [{"user_id": u, "track_id": good}, {"user_id": u, "track_id": "zzz"}]}
    r = client.post("/v1/listens", json=batch, headers=H(tok))
    assert r.status_code == 422 and "events[1].track_id" in r.json()["detail"]
    assert app.state.store.count_events(u) == 0  # nothing of a rejected batch is stored
    cases = [({"track_id": good, "ms_played": -1}, "ms_played"),
             ({"track_id": good, "played_at": "2999-01-01T00:00:00Z"}, "played_at"),
             ({"track_id": good, "skipped": "maybe"}, "skipped"),
             ({"track_id": good, "colour": "red"}, "colour"),
             ({"track_id": good, "rec_id": "bad id"}, "rec_id"),
             ({}, "track_id")]
    for body, field in cases:
        r = client.post(f"/v1/users/{u}/listens", json=body, headers=H(tok))
        assert r.status_code == 422, body
        assert field in r.json()["detail"], (body, r.json())
    r = client.post("/v1/listens", json={"events": []}, headers=H(tok))
    assert r.status_code == 422 and "events" in r.json()["detail"]
    big = {"events": [{"user_id": u, "track_id": good}] * 1001}
    r = client.post("/v1/listens", json=big, headers=H(tok))
    assert r.status_code == 422 and "events" in r.json()["detail"]
    huge = b'{"events": [' + b'{"user_id": "x", "track_id": "y"},' * 40000 + b']}'
    r = client.post("/v1/listens", content=huge, headers=H(tok) | {"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    r = client.post("/v1/users/bad user!/listens", json={"track_id": good}, headers=ADMIN)
    assert r.status_code in (404, 422)


# --- recommendations ------------------------------------------------------------------------
def test_recommendations_shape_and_strategies(svc, users):
    client, app, _ = svc
    a, ta, _, _ = users
    r = client.get(f"/v1/users/{a}/recommendations", headers=H(ta))
    body = r.json()
    assert r.status_code == 200
    assert body["strategy"] == "affinity-lr" and len(body["items"]) == 10 and body["cold_start"] is False
    assert body["recommendation_id"].startswith("affinity-lr.")
    it = body["items"][0]
    assert 0 <= it["probability"] <= 1 and it["probability"] == it["score"] and it["reason"]
    assert " you played" in it["reason"] and it["title"] and it["rank"] == 1
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    played = {e["track_id"] for e in app.state.store.user_events(a)}
    assert not played & {i["track_id"] for i in body["items"]}
    for s in app.state.holder.current.strategies:
        r = client.get(f"/v1/users/{a}/recommendations", params={"strategy": s, "k": 5}, headers=H(ta))
        assert r.status_code == 200 and r.json()["strategy"] == s and len(r.json()["items"]) == 5
        assert ("probability" in r.json()["items"][0]) == s.startswith("affinity-lr")
    r = client.get(f"/v1/users/{a}/recommendations", params={"strategy": "no-such-model"}, headers=H(ta))
    assert r.status_code == 422 and r.json()["detail"].startswith("strategy: 'no-such-model' is not in model")
    for k in (0, 101, "x"):
        r = client.get(f"/v1/users/{a}/recommendations", params={"k": k}, headers=H(ta))
        assert r.status_code == 422 and r.json()["detail"].startswith("query.k:")
    r = client.get(f"/v1/users/{a}/recommendations", params={"k": 100}, headers=H(ta))
    assert len(r.json()["items"]) == 100


def test_recommendation_filters(svc, users):
    client, app, _ = svc
    a, ta, _, _ = users
    base = client.get(f"/v1/users/{a}/recommendations", params={"k": 20}, headers=H(ta)).json()["items"]
    ids = [i["track_id"] for i in base]
    r = client.get(f"/v1/users/{a}/recommendations", params={"allow": ids[5:8], "k": 10}, headers=H(ta)).json()
    assert [i["track_id"] for i in r["items"]] == ids[5:8]
    r = client.get(f"/v1/users/{a}/recommendations", params={"deny": ids[:2], "k": 3}, headers=H(ta)).json()
    assert [i["track_id"] for i in r["items"]] == ids[2:5]
    r = client.get(f"/v1/users/{a}/recommendations", params={"deny": ["nope"]}, headers=H(ta))
    assert r.status_code == 422 and r.json()["detail"] == "deny: unknown track 'nope'"
    played = [e["track_id"] for e in app.state.store.user_events(a)]
    r = client.get(f"/v1/users/{a}/recommendations", params={"exclude_listened": False, "k": 100}, headers=H(ta)).json()
    assert set(played) & {i["track_id"] for i in r["items"]}
    r = client.get(f"/v1/users/{a}/recommendations", params={"max_per_artist": 1, "k": 30}, headers=H(ta)).json()
    artists = [i["artist"] for i in r["items"]]
    assert len(artists) == 30 and len(set(artists)) == 30
    r = client.get(f"/v1/users/{a}/recommendations", params={"explicit": False, "k": 100}, headers=H(ta)).json()
    assert not any(i["explicit"] for i in r["items"])
    explicit_ids = {t["track_id"] for t in some_tracks(client, 100, explicit=True)}
    assert explicit_ids, "the demo catalogue has explicit tracks"


def test_unknown_user_gets_cold_start(svc):
    client, _, _ = svc
    r = client.get("/v1/users/nobody-at-all/recommendations", headers=ADMIN)
    body = r.json()
    assert r.status_code == 200 and body["cold_start"] is True and len(body["items"]) == 10
    assert "popular" in body["items"][0]["reason"]
    p = client.get("/v1/users/nobody-at-all/profile", headers=ADMIN).json()
    assert p["cold_start"] is True and p["summary"]["plays"] == 0


def test_blocks_honoured_by_every_strategy(svc):
    client, app, res = svc
    u, tok = new_user(app, "blocker")
    seed = some_tracks(client, 3, genre="rock")
    for t in seed:
        client.post(f"/v1/users/{u}/listens", json={"track_id": t["track_id"], "ms_played": 180000}, headers=H(tok))
    strategies = app.state.holder.current.strategies
    for s in strategies:
        top = client.get(f"/v1/users/{u}/recommendations", params={"strategy": s, "k": 5}, headers=H(tok)).json()["items"]
        r = client.post(f"/v1/users/{u}/blocks", json={"kind": "track", "value": top[0]["track_id"]}, headers=H(tok))
        assert r.status_code == 201 and top[0]["track_id"] in r.json()["track"]
        r = client.post(f"/v1/users/{u}/blocks", json={"kind": "artist", "value": top[1]["artist"]}, headers=H(tok))
        after = client.get(f"/v1/users/{u}/recommendations", params={"strategy": s, "k": 100}, headers=H(tok)).json()["items"]
        assert top[0]["track_id"] not in [i["track_id"] for i in after], s
        assert top[1]["artist"] not in [i["artist"] for i in after], s
    blocks = client.get(f"/v1/users/{u}/blocks", headers=H(tok)).json()
    r = client.delete(f"/v1/users/{u}/blocks", params={"kind": "track", "value": blocks["track"][0]}, headers=H(tok))
    assert r.status_code == 200 and blocks["track"][0] not in r.json()["track"]
    r = client.delete(f"/v1/users/{u}/blocks", params={"kind": "track", "value": "never-blocked"}, headers=H(tok))
    assert r.status_code == 404
    r = client.post(f"/v1/users/{u}/blocks", json={"kind": "track", "value": "no-such"}, headers=H(tok))
    assert r.status_code == 404
    r = client.post(f"/v1/users/{u}/blocks", json={"kind": "album", "value": "x"}, headers=H(tok))
    assert r.status_code == 422 and "kind" in r.json()["detail"]


def test_strategy_stats_from_rec_ids(svc):
    client, app, _ = svc
    u, tok = new_user(app, "stats-user")
    client.post(f"/v1/users/{u}/listens", json={"track_id": some_tracks(client, 1)[0]["track_id"]}, headers=H(tok))
    rec = client.get(f"/v1/users/{u}/recommendations", params={"strategy": "similarity"}, headers=H(tok)).json()
    items = rec["items"]
    client.post(f"/v1/users/{u}/listens", json={"track_id": items[0]["track_id"], "rec_id": rec["recommendation_id"],
                                                "ms_played": 200000}, headers=H(tok))
    client.post(f"/v1/users/{u}/listens", json={"track_id": items[1]["track_id"], "rec_id": rec["recommendation_id"],
                                                "ms_played": 3000, "skipped": True}, headers=H(tok))
    stats = {s["strategy"]: s for s in client.get("/v1/stats/strategies", headers=H(tok)).json()["strategies"]}
    assert stats["similarity"]["listens"] >= 2
    assert 0 < stats["similarity"]["skip_rate"] < 1 and 0 < stats["similarity"]["play_through_rate"] < 1
    h = client.get(f"/v1/users/{u}/history", headers=H(tok)).json()["items"]
    assert h[0]["strategy"] == "similarity" and h[0]["rec_id"] == rec["recommendation_id"]


def test_export_and_delete_user(svc):
    client, app, _ = svc
    u, tok = new_user(app, "leaving-user")
    t = some_tracks(client, 1)[0]["track_id"]
    client.post(f"/v1/users/{u}/listens", json={"track_id": t, "ms_played": 100000}, headers=H(tok))
    client.post(f"/v1/users/{u}/blocks", json={"kind": "artist", "value": "Someone"}, headers=H(tok))
    ex = client.get(f"/v1/users/{u}/export", headers=H(tok)).json()
    assert ex["user_id"] == u and [e["track_id"] for e in ex["events"]] == [t]
    assert ex["blocks"]["artist"] == ["Someone"] and ex["tokens"] == 1
    assert client.delete(f"/v1/users/{u}", headers=H(tok)).status_code == 403
    r = client.delete(f"/v1/users/{u}", headers=ADMIN)
    assert r.status_code == 200 and r.json()["deleted"] == {"events": 1, "blocks": 1, "tokens": 1, "users": 1}
    assert client.get(f"/v1/users/{u}/history", headers=H(tok)).status_code == 401  # token is gone
    assert client.get(f"/v1/users/{u}/history", headers=ADMIN).json()["total"] == 0
    assert client.get(f"/v1/users/{u}/recommendations", headers=ADMIN).json()["cold_start"] is True
    assert client.delete(f"/v1/users/{u}", headers=ADMIN).status_code == 404
    assert client.get(f"/v1/users/{u}/export", headers=ADMIN).status_code == 404


def test_structured_logs_carry_request_id(svc, capfd):
    from trackrec.service.app import configure_logging
    client, _, _ = svc
    configure_logging("INFO", True)
    try:
        client.get("/v1/me", headers=ADMIN | {"X-Request-ID": "req-42"})
    finally:
        logging.getLogger("trackrec").handlers.clear()
        logging.getLogger("trackrec").propagate = True
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    mine = [d for d in lines if d["request_id"] == "req-42"]
    assert mine and mine[0]["path"] == "/v1/me" and mine[0]["status"] == 200
    assert ADMIN["Authorization"].split()[1] not in json.dumps(lines)
    assert np.isfinite(mine[0]["ms"])
