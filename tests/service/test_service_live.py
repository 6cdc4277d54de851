"""Live behaviour: listens change the next answer, new users and new tracks work without
retraining, the live scoring equals the models' own, hot reload and rollback."""

from __future__ import annotations

import threading

import numpy as np
import pytest

ADMIN = {"Authorization": "Bearer test-admin-key-0123456789abcdef"}


def H(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def recs(client, user, token, **params):
    r = client.get(f"/v1/users/{user}/recommendations", params=params, headers=H(token))
    assert r.status_code == 200, r.text
    return r.json()


def test_live_scores_equal_the_models_own(svc):
    """For tracks the model knows, the service's scoring is the model's (same math, same numbers)."""
    from trackrec.service.live import History
    _, app, _ = svc
    live = app.state.holder.check()
    bundle = live.bundle
    ds = bundle.dataset
    users = list(ds.users.external_ids[:5])
    for name in ("affinity-lr", "similarity", "affinity-lr-concat", "popularity"):
        model = bundle.models[name]
        for u in users:
            row = ds.positives[ds.users.get_indexer([u])[0]]
            hist_ids = list(np.repeat(ds.tracks.external_ids[row.indices], row.data.astype(int)))
            s, cold, _ = live.scores(name, History.of(hist_ids), u)
            uidx, hm = ds.history_matrix([u], {u: hist_ids})
            ref, ref_cold = model.score_block(uidx, hm)
            assert cold == bool(ref_cold[0])
            n = live.n_model_tracks
            ok = model.candidate_mask()
            np.testing.assert_allclose(s[:n][ok], ref[0][ok], rtol=2e-4, atol=2e-5)
            expect = bundle.recommend(u, 10, strategy=name, user_items={u: hist_ids})
            got = live.recommend(u, History.of(hist_ids), strategy=name, k=10, with_reasons=False)
            np.testing.assert_allclose(got.scores, expect.scores, rtol=2e-4, atol=2e-5)
            ids, exp = list(live.track_ids[got.track_idx]), list(expect.track_ids)
            sc = np.round(expect.scores, 5)
            for i in range(len(exp)):  # same track at every rank that is not a tie
                if (sc == sc[i]).sum() == 1 and sc[i] > sc[-1]:
                    assert ids[i] == exp[i], (name, u, i)


def test_a_listen_changes_the_next_recommendation_and_profile(svc):
    client, app, _ = svc
    u, tok = "live-fan", app.state.store.issue_token("live-fan")
    jazz = client.get("/v1/tracks", params={"genre": "jazz", "limit": 3}, headers=ADMIN).json()["items"]
    metal = client.get("/v1/tracks", params={"genre": "metal", "limit": 6}, headers=ADMIN).json()["items"]
    cold = recs(client, u, tok)
    assert cold["cold_start"] is True
    # first listen: personal from then on
    client.post(f"/v1/users/{u}/listens", json={"track_id": jazz[0]["track_id"], "ms_played": 200000}, headers=H(tok))
    first = recs(client, u, tok)
    assert first["cold_start"] is False
    assert jazz[0]["track_id"] not in [i["track_id"] for i in first["items"]]  # exclusion list updated
    p1 = client.get(f"/v1/users/{u}/profile", headers=H(tok)).json()
    assert p1["summary"]["top_genres"][0]["label"] == "jazz" and p1["cold_start"] is False
    # a run of metal listens moves the profile and the list
    client.post("/v1/listens", json={"events": [{"user_id": u, "track_id": t["track_id"], "ms_played": 200000}
                                                for t in metal]}, headers=H(tok))
    p2 = client.get(f"/v1/users/{u}/profile", headers=H(tok)).json()
    assert p2["summary"]["top_genres"][0]["label"] == "metal"
    assert p1["vector"] != p2["vector"]
    second = recs(client, u, tok)
    assert [i["track_id"] for i in second["items"]] != [i["track_id"] for i in first["items"]]
    sim = recs(client, u, tok, strategy="similarity")
    assert sum("metal" in (i["genre"] or "") for i in sim["items"]) >= 5
    # a skipped play is excluded from the list but does not build the profile
    client.post(f"/v1/users/{u}/listens", json={"track_id": sim["items"][0]["track_id"], "skipped": True,
                                                "ms_played": 2000}, headers=H(tok))
    p3 = client.get(f"/v1/users/{u}/profile", headers=H(tok)).json()
    assert p3["vector"] == p2["vector"]
    assert sim["items"][0]["track_id"] not in [i["track_id"] for i in recs(client, u, tok, strategy="similarity")["items"]]


def _clone(track: dict, new_id: str) -> dict:
    keep = ("title", "artist", "album", "genre", "mood", "tempo", "energy", "valence", "danceability",
            "acousticness", "duration_ms", "explicit", "year")
    return {"track_id": new_id} | {k: track[k] for k in keep if k in track and track[k] is not None}


def test_new_tracks_are_recommendable_at_once(fresh_workdir):
    """A track added through the API is scored by content with the model's own math: a copy of
    the user's top track (same features) gets exactly the same score, in every content strategy."""
    from fastapi.testclient import TestClient

    from trackrec.service.app import create_app
    app = create_app(fresh_workdir)
    with TestClient(app) as client:
        u = app.state.holder.check().bundle.dataset.users.external_ids[3]
        tok = app.state.store.issue_token(u)
        before = {s: recs(client, u, tok, strategy=s, k=5) for s in ("affinity-lr", "similarity", "affinity-lr-concat")}
        top = client.get(f"/v1/tracks/{before['affinity-lr']['items'][0]['track_id']}", headers=ADMIN).json()
        new = _clone(top, "api-new-1") | {"title": "Brand New Song"}
        r = client.post("/v1/tracks", json={"tracks": [new]}, headers=ADMIN)
        assert r.status_code == 201 and r.json()["added"] == 1
        assert client.get("/v1/tracks/api-new-1", headers=H(tok)).json()["title"] == "Brand New Song"
        for s in before:
            pair = recs(client, u, tok, strategy=s, k=5, allow=[top["track_id"], "api-new-1"])["items"]
            assert {i["track_id"] for i in pair} == {top["track_id"], "api-new-1"}, s
            assert pair[0]["score"] == pytest.approx(pair[1]["score"], rel=1e-5), s
        after = recs(client, u, tok, k=5)["items"]
        assert "api-new-1" in [i["track_id"] for i in after[:2]]
        assert after[0]["score"] == pytest.approx(before["affinity-lr"]["items"][0]["score"], rel=1e-5)
        # popularity cannot score a track nobody has played; the new track is not in its list
        pop = recs(client, u, tok, strategy="popularity", k=100)
        assert "api-new-1" not in [i["track_id"] for i in pop["items"]]
        # similar tracks work for the new track, and the original is its nearest neighbour
        sim = client.get("/v1/tracks/api-new-1/similar", params={"k": 3}, headers=H(tok)).json()
        assert sim["items"][0]["track_id"] == top["track_id"] and sim["items"][0]["score"] == pytest.approx(1.0)
        # a brand-new user whose only listen is the new track has a profile from it
        r = client.post("/v1/users/fresh-user/listens", json={"track_id": "api-new-1", "ms_played": 250000}, headers=ADMIN)
        assert r.status_code == 200
        p = client.get("/v1/users/fresh-user/profile", headers=ADMIN).json()
        assert p["cold_start"] is False and p["summary"]["top_genres"][0]["label"] == top["genre"]
        fr = recs(client, "fresh-user", app.state.store.issue_token("fresh-user"), strategy="similarity")
        assert fr["cold_start"] is False and fr["items"][0]["track_id"] == top["track_id"]
        # validation and admin-only
        assert client.post("/v1/tracks", json={"tracks": [new]}, headers=ADMIN).status_code == 409
        assert client.post("/v1/tracks", json={"tracks": [_clone(top, "x2")]}, headers=H(tok)).status_code == 403
        r = client.post("/v1/tracks", json={"tracks": [_clone(top, "x3") | {"tempo": "fast"}]}, headers=ADMIN)
        assert r.status_code == 422 and r.json()["detail"] == "tracks[0].tempo: expected a number, got 'fast'"
        r = client.post("/v1/tracks", json={"tracks": [_clone(top, "x4") | {"loudness": 3}]}, headers=ADMIN)
        assert r.status_code == 422 and "tracks[0].loudness: not a catalogue column" in r.json()["detail"]
        r = client.post("/v1/tracks", json={"tracks": [{"track_id": "x5"}]}, headers=ADMIN)
        assert r.status_code == 422 and "title" in r.json()["detail"]
        # the model info counts tracks added since training
        assert client.get("/v1/model", headers=ADMIN).json()["tracks"]["added_since_training"] == 1


def test_other_workers_see_new_tracks_and_versions(fresh_workdir):
    """Two apps on one workdir stand for two worker processes: a track added or a version
    published through one is used by the other on its next request."""
    from fastapi.testclient import TestClient

    from trackrec.persistence.workdir import Workdir
    from trackrec.service.app import create_app
    a, b = create_app(fresh_workdir), create_app(fresh_workdir)
    with TestClient(a) as ca, TestClient(b) as cb:
        top = cb.get("/v1/users/u0001/recommendations", params={"strategy": "similarity"}, headers=ADMIN).json()
        t = ca.get(f"/v1/tracks/{top['items'][0]['track_id']}", headers=ADMIN).json()
        assert ca.post("/v1/tracks", json={"tracks": [_clone(t, "w-new")]}, headers=ADMIN).status_code == 201
        top2 = cb.get("/v1/users/u0001/recommendations", params={"strategy": "similarity"}, headers=ADMIN).json()
        assert "w-new" in [i["track_id"] for i in top2["items"][:2]]
        wd = Workdir(fresh_workdir)
        v1 = wd.current_version()
        v2 = wd.publish(a.state.holder.current.bundle, version=v1 + "-b")
        assert cb.get("/v1/model", headers=ADMIN).json()["version"] == v2  # b noticed CURRENT itself
        r = ca.post("/v1/admin/rollback", headers=ADMIN)
        assert r.status_code == 200 and r.json()["version"] == v1
        assert cb.get("/readyz").json()["model_version"] == v1
        r = cb.post("/v1/admin/activate", json={"version": v2}, headers=ADMIN)
        assert r.status_code == 200 and ca.get("/v1/model", headers=ADMIN).json()["version"] == v2
        assert cb.post("/v1/admin/activate", json={"version": "nope"}, headers=ADMIN).status_code == 404
        assert cb.post("/v1/admin/reload", headers=ADMIN).json()["version"] == v2


def test_rollback_without_older_version_is_409(fresh_workdir):
    from fastapi.testclient import TestClient

    from trackrec.service.app import create_app
    app = create_app(fresh_workdir)
    with TestClient(app) as c:
        r = c.post("/v1/admin/rollback", headers=ADMIN)
        assert r.status_code == 409 and "no model version older" in r.json()["detail"]


def test_hot_reload_under_concurrent_requests(fresh_workdir):
    """Requests in flight while new versions are published and rolled back: none fails, and each
    answer comes whole from one version (its items are exactly that version's list)."""
    from fastapi.testclient import TestClient

    from trackrec.persistence.workdir import Workdir
    from trackrec.service.app import create_app
    from trackrec.pipeline import train
    from trackrec.service.store import load_frames
    wd = Workdir(fresh_workdir)
    v1 = wd.current_version()
    sessions, catalog = load_frames(fresh_workdir)
    other = train(sessions, catalog, strategies=("popularity", "affinity-lr"), random_state=5,
                  refit=False)
    app = create_app(fresh_workdir)
    with TestClient(app) as client:
        expected = {v1: client.get("/v1/users/u0002/recommendations", headers=ADMIN).json()["items"]}
        v2 = wd.publish(other, version=v1 + "-r2")
        wd.set_current(v1)
        app.state.holder.load()
        errors, seen = [], []
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                r = client.get("/v1/users/u0002/recommendations", headers=ADMIN)
                if r.status_code != 200:
                    errors.append(r.status_code)
                else:
                    seen.append((r.json()["model_version"], [i["track_id"] for i in r.json()["items"]]))

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for i in range(6):
                wd.set_current(v2 if i % 2 == 0 else v1)
                client.post("/v1/admin/reload", headers=ADMIN)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        wd.set_current(v2)
        client.post("/v1/admin/reload", headers=ADMIN)
        expected[v2] = [i["track_id"] for i in client.get("/v1/users/u0002/recommendations", headers=ADMIN).json()["items"]]
        expected[v1] = [i["track_id"] for i in expected[v1]]
        assert expected[v1] != expected[v2]
        assert not errors
        assert {v for v, _ in seen} <= {v1, v2} and len(seen) > 10
        for v, items in seen:
            assert items == expected[v]
        assert app.state.holder.current.version == v2
