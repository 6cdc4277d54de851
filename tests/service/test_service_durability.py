"""kill -9 durability: every acknowledged event survives; a retried batch is not stored twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": "Bearer test-admin-key-0123456789abcdef"}


def test_acknowledged_events_survive_sigkill(fresh_workdir, server_factory):
    from trackrec.service.store import Store, store_path
    store = Store(store_path(fresh_workdir))
    tracks = [t["track_id"] for t in store.search_tracks(limit=50)[1]]
    before = store.count_events()
    server = server_factory(fresh_workdir).start()
    n_batches, per_batch = 40, 25
    batches = [{"events": [{"user_id": f"dur-{b % 7}", "track_id": tracks[(b * per_batch + i) % len(tracks)],
                            "event_id": f"dur-{b}-{i}", "ms_played": 60000 + i} for i in range(per_batch)]}
               for b in range(n_batches)]

    def send(batch):
        with httpx.Client(base_url=server.url, timeout=30) as c:
            r = c.post("/v1/listens", json=batch, headers=ADMIN)
            return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        acks = list(pool.map(send, batches))
    assert all(code == 200 and body["stored"] == per_batch for code, body in acks)
    server.kill()                                   # SIGKILL right after the last acknowledgement
    assert server.proc.returncode == -9
    server2 = server_factory(fresh_workdir).start()  # restart on the same store
    store2 = Store(store_path(fresh_workdir))
    n = n_batches * per_batch
    assert store2.count_events() == before + n
    ids = {r[0] for r in store2.conn.execute("SELECT event_id FROM events WHERE event_id LIKE 'dur-%'")}
    assert ids == {f"dur-{b}-{i}" for b in range(n_batches) for i in range(per_batch)}
    # the client did not see an answer for some batches and retries them all: nothing doubles
    with httpx.Client(base_url=server2.url, timeout=30) as c:
        r = c.post("/v1/listens", json=batches[3], headers=ADMIN)
        assert r.status_code == 200 and r.json()["stored"] == 0 and r.json()["duplicates"] == per_batch
        assert c.get("/v1/users/dur-3/history", headers=ADMIN).json()["total"] == \
            sum(1 for b in range(n_batches) if b % 7 == 3) * per_batch
    assert store2.count_events() == before + n
