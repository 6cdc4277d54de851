"""Load test of the trackrec service (loopback only, bounded in count and time).

1. Builds a world (default 20,000 tracks, 5,000 users), initialises a workdir (store + model).
2. Starts ``uvicorn`` with the service in a child process on 127.0.0.1.
3. (a) Fixed arrival rate (default 200 requests/s for 60 s): 80 % top-10 recommendations for a
   random user, 20 % listening events. Latency is measured from each request's *scheduled* time
   (no coordinated omission). Reports p50/p95/p99 and errors.
4. (b) Saturation: a closed loop of N concurrent clients on the recommendation endpoint, then on
   ``/healthz`` (a trivial endpoint of the same app: the framework's own ceiling); reports the
   throughput of both and their ratio.

The load generator runs in a separate process (``multiprocessing`` spawn): asyncio with a
minimal keep-alive HTTP/1.1 client, so the generator is not the bottleneck. Usage::

    python benchmarks/load_test.py                       # the figures in docs/service.md
    python benchmarks/load_test.py --duration 10 --users 600 --tracks 3000 --plays 60000   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ADMIN_KEY = "load-test-admin-key"
MAX_REQUESTS = 200_000          # hard bound on requests per phase


def _pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class _Conn:
    """A minimal HTTP/1.1 keep-alive connection on asyncio streams (lean: the load generator
    must not be the bottleneck on a 2-core machine)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.r = self.w = None

    async def request(self, method, path, body=None):
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(self.host, self.port)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n")
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        self.w.write((head + "\r\n").encode() + data)
        try:
            status_line = await self.r.readline()
            if not status_line:
                raise ConnectionError("connection closed")
            status = int(status_line.split()[1])
            length, close = 0, False
            while True:
                line = await self.r.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                k = k.strip().lower()
                if k == "content-length":
                    length = int(v)
                elif k == "connection" and v.strip().lower() == "close":
                    close = True
            await self.r.readexactly(length)
        except Exception:
            self.close()
            raise
        if close:
            self.close()
        return status

    def close(self):
        if self.w is not None:
            self.w.close()
        self.r = self.w = None


async def _fixed_rate(url, users, tracks, rate, duration, seed, connections=128):
    host, port = url.split("//")[1].split(":")
    rng = random.Random(seed)
    n = min(int(rate * duration), MAX_REQUESTS)
    lat = {"rec": [], "listen": []}
    errors = {}
    queue: asyncio.Queue = asyncio.Queue()

    async def worker():
        conn = _Conn(host, int(port))
        while True:
            job = await queue.get()
            if job is None:
                conn.close()
                return
            sched, kind, user, track = job
            try:
                if kind == "rec":
                    code = await asyncio.wait_for(conn.request("GET", f"/v1/users/{user}/recommendations?k=10"), 10)
                else:
                    code = await asyncio.wait_for(conn.request("POST", f"/v1/users/{user}/listens",
                                                               {"track_id": track, "ms_played": 120000}), 10)
                key = None if code == 200 else f"HTTP {code}"
            except Exception as exc:  # noqa: BLE001 - counted and reported
                conn.close()
                key = type(exc).__name__
            if key:
                errors[key] = errors.get(key, 0) + 1
            lat[kind].append((time.perf_counter() - sched) * 1000)

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter() + 0.2
    for i in range(n):
        sched = start + i / rate
        delay = sched - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        kind = "rec" if rng.random() < 0.8 else "listen"
        queue.put_nowait((sched, kind, rng.choice(users), rng.choice(tracks)))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    allv = lat["rec"] + lat["listen"]
    pct = lambda xs: {p: round(_pct(xs, q), 2) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}  # noqa: E731
    return {"requests": n, "elapsed_s": round(elapsed, 1), "achieved_rps": round(n / elapsed, 1),
            "errors": errors, "all_ms": pct(allv), "rec_ms": pct(lat["rec"]), "listen_ms": pct(lat["listen"]),
            "max_ms": round(max(allv), 2) if allv else None}


async def _closed_loop(url, path_fn, concurrency, duration):
    host, port = url.split("//")[1].split(":")
    done, errors, lat = 0, 0, []
    end = time.perf_counter() + duration

    async def worker(w):
        nonlocal done, errors
        rng = random.Random(w)
        conn = _Conn(host, int(port))
        while time.perf_counter() < end and done < MAX_REQUESTS:
            t = time.perf_counter()
            try:
                if await asyncio.wait_for(conn.request("GET", path_fn(rng)), 10) != 200:
                    errors += 1
            except Exception:  # noqa: BLE001
                conn.close()
                errors += 1
            lat.append((time.perf_counter() - t) * 1000)
            done += 1
        conn.close()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {"requests": done, "rps": round(done / elapsed, 1), "errors": errors,
            "p50_ms": round(_pct(lat, 50), 2), "p99_ms": round(_pct(lat, 99), 2)}


def _generator(args):
    """Runs in the load-generator process."""
    kind, url, users, tracks, rate, duration, concurrency, seed = args
    if kind == "fixed":
        return asyncio.run(_fixed_rate(url, users, tracks, rate, duration, seed))
    if kind == "sat-rec":
        return asyncio.run(_closed_loop(url, lambda r: f"/v1/users/{r.choice(users)}/recommendations?k=10",
                                        concurrency, duration))
    return asyncio.run(_closed_loop(url, lambda r: "/healthz", concurrency, duration))


def _wait_ready(url, proc, timeout=300):
    import httpx
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("server exited during start-up")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("server not ready in time")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--tracks", type=int, default=20000)
    ap.add_argument("--plays", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--sat-duration", type=float, default=15.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--strategies", default="popularity,similarity,affinity-lr",
                    help="strategies to train (the load hits the default, affinity-lr)")
    ap.add_argument("--port", type=int, default=8791)
    ap.add_argument("--workdir", type=Path, default=None, help="reuse/keep this workdir (default: a temp dir)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = ap.parse_args(argv)
    if args.duration > 600 or args.sat_duration > 120 or args.rate > 5000:
        ap.error("bounded: --duration <= 600, --sat-duration <= 120, --rate <= 5000")

    from trackrec.data.generate import generate_world
    from trackrec.service.bootstrap import init_workdir
    from trackrec.service.store import Store, store_path

    tmp = None
    wd = args.workdir
    if wd is None:
        tmp = tempfile.mkdtemp(prefix="trackrec-load-")
        wd = Path(tmp) / "work"
    t0 = time.perf_counter()
    if not store_path(wd).exists():
        print(f"building a world: {args.tracks} tracks, {args.users} users, {args.plays} plays", file=sys.stderr)
        catalog, sessions = generate_world(n_users=args.users, n_tracks=args.tracks, n_plays=args.plays,
                                           random_state=0)
        strategies = [x.strip() for x in args.strategies.split(",")]
        init_workdir(wd, sessions=sessions, catalog=catalog, admin_key=ADMIN_KEY, demo_users=0,
                     train_params={"strategies": strategies, "refit": False},
                     progress=lambda m: print("  " + m, file=sys.stderr))
    setup_s = time.perf_counter() - t0
    store = Store(store_path(wd))
    users = [r[0] for r in store.conn.execute("SELECT user_id FROM users")]
    tracks = [r[0] for r in store.conn.execute("SELECT track_id FROM tracks")]
    store.close()
    url = f"http://127.0.0.1:{args.port}"
    env = dict(os.environ, TRACKREC_WORKDIR=str(wd), TRACKREC_LOG_LEVEL="WARNING", TRACKREC_ADMIN_KEY=ADMIN_KEY)
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "trackrec.service.app:create_app_from_env", "--factory",
                               "--host", "127.0.0.1", "--port", str(args.port), "--workers", str(args.workers),
                               "--no-access-log", "--log-level", "warning"], env=env)
    try:
        _wait_ready(url, server)
        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as pool:
            # warm-up (imports, first requests of each worker), not measured
            pool.apply(_generator, (("fixed", url, users, tracks, 50, 3, 0, 99),))
            print(f"(a) fixed arrival {args.rate:.0f} req/s for {args.duration:.0f} s ...", file=sys.stderr)
            fixed = pool.apply(_generator, (("fixed", url, users, tracks, args.rate, args.duration, 0, 1),))
            print(f"(b) saturation, {args.concurrency} concurrent clients ...", file=sys.stderr)
            sat_rec = pool.apply(_generator, (("sat-rec", url, users, tracks, 0, args.sat_duration, args.concurrency, 2),))
            sat_triv = pool.apply(_generator, (("sat-health", url, users, tracks, 0, args.sat_duration, args.concurrency, 3),))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "cpu": _cpu_name()},
        "world": {"users": len(users), "tracks": len(tracks), "plays": args.plays},
        "server": {"workers": args.workers, "setup_s": round(setup_s, 1)},
        "fixed_rate": {"target_rps": args.rate, "duration_s": args.duration, "mix": "80% recommendations k=10, 20% listens"}
        | fixed,
        "saturation": {"concurrency": args.concurrency, "duration_s": args.sat_duration,
                       "recommendations": sat_rec, "healthz": sat_triv,
                       "ratio_rec_to_trivial": round(sat_rec["rps"] / sat_triv["rps"], 3) if sat_triv["rps"] else None},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    f = result["fixed_rate"]
    print(json.dumps(result, indent=2))
    print(f"\n(a) {f['requests']} requests at {f['achieved_rps']} req/s: p50 {f['all_ms']['p50']} ms, "
          f"p95 {f['all_ms']['p95']} ms, p99 {f['all_ms']['p99']} ms, errors {sum(f['errors'].values())}")
    s = result["saturation"]
    print(f"(b) saturation: recommendations {s['recommendations']['rps']} req/s, trivial endpoint "
          f"{s['healthz']['rps']} req/s, ratio {s['ratio_rec_to_trivial']}")
    return result


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
