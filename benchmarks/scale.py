"""Scale benchmark: prepare + train + batch-recommend with the local and the Spark engine.

Generates a synthetic listening log with a fast vectorised generator (written as Parquet in
chunks, so even 20M+ plays never sit in memory at once), then runs, per engine, exactly what a
user would run:

    trackrec train --engine ENGINE --sessions S --catalog C --strategies ... --json --quiet
    trackrec batch-recommend --engine ENGINE --out ... --json --quiet

Each command runs in its own process; wall time and the peak resident memory of the whole
process tree (Python, JVM, Python workers) are sampled from /proc every 0.2 s. The local engine
is first checked with :func:`trackrec.engines.spark.estimate_local_memory`: if it would need
more than ``--memory-limit`` it is not started and the result says so (pointing at
``--engine spark``); a run that still grows beyond the limit is killed and reported.

Example (the figures in docs/spark.md)::

    python benchmarks/scale.py --plays 1000000 5000000 --out scale-results
    nohup python benchmarks/scale.py --plays 20000000 --out scale-results > scale20m.log 2>&1 &

Results are appended as JSON lines to ``OUT/results.jsonl`` and printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

GENRES = ("rock", "pop", "hip hop", "electronic", "jazz", "classical", "metal", "folk", "r&b", "country",
          "reggae", "indie")
MOODS = ("happy", "sad", "energetic", "calm", "dark", "romantic", "melancholic")
STRATEGIES = "popularity,similarity,affinity-lr,ials"


# --- data -------------------------------------------------------------------------------------

def make_catalog(n_tracks: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    genre = rng.choice(len(GENRES), size=n_tracks, p=np.full(len(GENRES), 1 / len(GENRES)))
    mood = rng.integers(0, len(MOODS), size=n_tracks)
    energy = np.clip(0.15 + 0.06 * genre + rng.normal(0, 0.12, n_tracks), 0, 1)
    tempo = np.clip(80 + 6 * genre + rng.normal(0, 15, n_tracks), 50, 210)
    pop = rng.zipf(1.6, size=n_tracks).astype(np.float64)
    pop = np.minimum(pop, 1e5)
    cat = pd.DataFrame({
        "track_id": np.char.add("t", np.char.zfill(np.arange(1, n_tracks + 1).astype(str), 7)),
        "title": np.char.add("Track ", np.arange(1, n_tracks + 1).astype(str)),
        "artist": np.char.add("Artist ", (np.arange(n_tracks) // 10).astype(str)),
        "genre": np.asarray(GENRES, dtype=object)[genre],
        "mood": np.asarray(MOODS, dtype=object)[mood],
        "tempo": np.round(tempo, 1),
        "energy": np.round(energy, 3),
        "valence": np.round(rng.uniform(0, 1, n_tracks), 3),
        "duration_ms": rng.integers(120_000, 360_000, size=n_tracks),
    })
    return cat, {"genre": genre, "mood": mood, "pop": pop, "dur": cat["duration_ms"].to_numpy()}


def write_sessions(path: Path, n_users: int, n_plays: int, truth: dict, rng: np.random.Generator,
                   chunk_users: int = 20_000) -> None:
    """Users have 1-3 favourite genres and a favourite mood; a play picks a genre from the user's
    mix, then a track of that genre by popularity; 35% of plays replay an earlier track; skips
    are likelier off-taste. Timestamps are increasing within each user over 120 days."""
    n_tracks = len(truth["genre"])
    by_genre = [np.flatnonzero(truth["genre"] == g) for g in range(len(GENRES))]
    cdfs = [np.cumsum(truth["pop"][ix]) / truth["pop"][ix].sum() for ix in by_genre]
    counts = rng.lognormal(0, 0.8, size=n_users)
    counts = np.maximum(20, np.round(counts / counts.sum() * n_plays)).astype(np.int64)
    diff = n_plays - counts.sum()
    counts[np.argsort(-counts)[:abs(diff)]] += np.sign(diff)
    t0 = np.datetime64("2026-01-01T00:00:00", "s").astype(np.int64)
    schema = pa.schema([("user_id", pa.string()), ("track_id", pa.string()),
                        ("played_at", pa.timestamp("us", tz="UTC")), ("ms_played", pa.int64()),
                        ("skipped", pa.bool_())])
    track_ids = np.char.add("t", np.char.zfill(np.arange(1, n_tracks + 1).astype(str), 7)).astype(object)
    width = len(str(n_users))
    with pq.ParquetWriter(str(path), schema, compression="snappy") as writer:
        for start in range(0, n_users, chunk_users):
            cu = counts[start:start + chunk_users]
            nu = len(cu)
            n = int(cu.sum())
            user = np.repeat(np.arange(nu), cu)
            taste = rng.dirichlet(np.full(len(GENRES), 0.25), size=nu)
            fav_mood = rng.integers(0, len(MOODS), size=nu)
            g = (taste.cumsum(axis=1)[user] < rng.random(n)[:, None]).sum(axis=1).clip(0, len(GENRES) - 1)
            track = np.empty(n, np.int64)
            for gi in range(len(GENRES)):
                m = g == gi
                if m.any():
                    pick = np.searchsorted(cdfs[gi], rng.random(int(m.sum())), side="right").clip(0, len(cdfs[gi]) - 1)
                    track[m] = by_genre[gi][pick]
            # replays: copy an earlier play of the same user
            offs = np.concatenate([[0], np.cumsum(cu)[:-1]])
            pos = np.arange(n) - offs[user]
            rep = (pos > 0) & (rng.random(n) < 0.35)
            src = offs[user] + (rng.random(n) * pos).astype(np.int64)
            track[rep] = track[src[rep]]
            match = taste[user, truth["genre"][track]] + 0.3 * (truth["mood"][track] == fav_mood[user])
            skipped = rng.random(n) < np.clip(0.45 - 0.4 * match, 0.03, 0.9)
            dur = truth["dur"][track]
            ms = np.where(skipped, rng.integers(2_000, 29_000, size=n), (dur * rng.uniform(0.5, 1.0, n)).astype(np.int64))
            mean_gap = 120 * 86400 / np.maximum(cu, 1)             # spread each user over ~120 days
            gaps = rng.exponential(1.0, size=n) * mean_gap[user]
            cs = np.cumsum(gaps)
            ts = cs - (cs[offs] - gaps[offs])[user]               # increasing within each user
            ts_us = (t0 + ts.astype(np.int64)) * 1_000_000
            uid = np.char.add("u", np.char.zfill((start + user + 1).astype(str), width)).astype(object)
            table = pa.table({"user_id": pa.array(uid, pa.string()), "track_id": pa.array(track_ids[track], pa.string()),
                              "played_at": pa.array(ts_us, pa.timestamp("us", tz="UTC")),
                              "ms_played": pa.array(ms), "skipped": pa.array(skipped)}, schema=schema)
            writer.write_table(table, row_group_size=1_000_000)


def make_data(root: Path, n_plays: int, n_users: int, n_tracks: int, seed: int = 0) -> tuple[Path, Path, float]:
    d = root / f"data-{n_plays}"
    cat_p, ses_p = d / "catalog.parquet", d / "sessions.parquet"
    if cat_p.exists() and ses_p.exists():
        return cat_p, ses_p, 0.0
    d.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    cat, truth = make_catalog(n_tracks, rng)
    cat.to_parquet(cat_p, index=False)
    tmp = ses_p.with_suffix(".parquet.tmp")
    write_sessions(tmp, n_users, n_plays, truth, rng)
    tmp.rename(ses_p)                                        # complete files only
    return cat_p, ses_p, time.perf_counter() - t


# --- measurement --------------------------------------------------------------------------------

def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            ppid, pages = int(parts[1]), int(parts[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(p))
        rss[int(p)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        q = todo.pop()
        total += rss.get(q, 0)
        todo.extend(children.get(q, []))
    return total


def run_measured(cmd: list[str], *, limit_bytes: int, log_path: Path) -> dict:
    t = time.perf_counter()
    with open(log_path, "ab") as log:
        log.write(("\n$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
        peak = [0]
        killed = [False]

        def watch():
            while proc.poll() is None:
                r = _tree_rss(proc.pid)
                peak[0] = max(peak[0], r)
                if r > limit_bytes:
                    killed[0] = True
                    proc.kill()
                time.sleep(0.2)
        th = threading.Thread(target=watch, daemon=True)
        th.start()
        out, _ = proc.communicate()
        th.join()
    res = {"cmd": " ".join(cmd), "seconds": round(time.perf_counter() - t, 1), "peak_rss_gib": round(peak[0] / 2**30, 2),
           "exit_code": proc.returncode, "killed_over_limit": killed[0]}
    try:
        res["output"] = json.loads(out.decode() or "null")
    except json.JSONDecodeError:
        res["output"] = out.decode()[-2000:]
    return res


def bench(root: Path, n_plays: int, n_users: int, n_tracks: int, engines: list[str], limit_gib: float,
          spark_args: list[str]) -> list[dict]:
    from trackrec.engines.spark import estimate_local_memory
    cat_p, ses_p, gen_s = make_data(root, n_plays, n_users, n_tracks)
    results = []
    limit = int(limit_gib * 2**30)
    trackrec = [sys.executable, "-c", "from trackrec.cli import main; main()"]
    for engine in engines:
        wd = root / f"work-{n_plays}-{engine}"
        shutil.rmtree(wd, ignore_errors=True)
        base = {"plays": n_plays, "users": n_users, "tracks": n_tracks, "engine": engine,
                "generate_s": round(gen_s, 1), "strategies": STRATEGIES}
        if engine == "local":
            need = estimate_local_memory(n_users, n_tracks, n_plays)
            base["estimated_local_gib"] = round(need / 2**30, 1)
            if need > limit:
                results.append(base | {"status": "refused", "message":
                                       f"the local engine would need about {need / 2**30:.0f} GiB (> {limit_gib:g} GiB); "
                                       "use --engine spark"})
                continue
        extra = ["--engine", "spark", *spark_args] if engine == "spark" else []
        train = run_measured([*trackrec, "train", "--workdir", str(wd), "--sessions", str(ses_p), "--catalog", str(cat_p),
                              "--strategies", STRATEGIES, "--json", "--quiet", *extra],
                             limit_bytes=limit, log_path=root / "bench.log")
        row = base | {"train_s": train["seconds"], "train_peak_gib": train["peak_rss_gib"], "train_exit": train["exit_code"]}
        if isinstance(train["output"], dict):
            o = train["output"]
            row.update({"ndcg@10": o.get("ndcg@10"), "roc_auc": o.get("roc_auc"),
                        "baseline_ndcg@10": (o.get("baseline") or {}).get("ndcg@10"),
                        "ials_ndcg@10": (o.get("models", {}).get("ials") or {}).get("ndcg@10"),
                        "stage_s": (o.get("spark") or {}).get("stage_s"),
                        "n_lr_pairs": (o.get("spark") or {}).get("n_lr_pairs") or o.get("n_train_pairs"),
                        "fit_s": {k: round(v.get("fit_s", 0), 1) for k, v in o.get("models", {}).items()}})
        else:
            row["train_error"] = str(train["output"])[-500:]
        if train["killed_over_limit"]:
            row["status"] = f"killed: over {limit_gib:g} GiB"
            results.append(row)
            continue
        if train["exit_code"] == 0:
            out = wd / "outputs" / "recs.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            br = run_measured([*trackrec, "batch-recommend", "--workdir", str(wd), "--out", str(out), "-k", "10",
                               "--json", "--quiet", *extra], limit_bytes=limit, log_path=root / "bench.log")
            row.update({"batch_s": br["seconds"], "batch_peak_gib": br["peak_rss_gib"], "batch_exit": br["exit_code"]})
            row["status"] = "ok" if br["exit_code"] == 0 else "batch failed"
        else:
            row["status"] = "train failed"
        results.append(row)
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plays", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    ap.add_argument("--users-per-play", type=float, default=0.01, help="users = plays * this (20M -> 200k users)")
    ap.add_argument("--tracks", type=int, default=50_000)
    ap.add_argument("--engines", default="local,spark")
    ap.add_argument("--memory-limit-gib", type=float, default=24.0)
    ap.add_argument("--spark-master", default="local[*]")
    ap.add_argument("--spark-conf", action="append", default=[], help="KEY=VALUE, repeatable")
    ap.add_argument("--spark-config", default=None, help="TOML file with Spark settings and engine options")
    ap.add_argument("--out", type=Path, default=Path("scale-results"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    spark_args = ["--spark-master", args.spark_master]
    for c in args.spark_conf:
        spark_args += ["--spark-conf", c]
    cfg = args.spark_config
    if cfg is None:
        cfg = args.out / "spark-bench.toml"
        cfg.write_text("# engine options for the benchmark (capped ALS, sampled LR pairs)\n"
                       "max_lr_pairs = 1000000\nals_rank = 32\nals_max_iter = 5\n"
                       "[spark]\n\"driver.memory\" = \"8g\"\n\"sql.shuffle.partitions\" = \"16\"\n")
    spark_args += ["--spark-config", str(cfg)]
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
               "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}
    try:
        import pyspark
        machine["pyspark"] = pyspark.__version__
    except ImportError:
        pass
    for n in args.plays:
        users = max(1, int(n * args.users_per_play))
        for row in bench(args.out, n, users, args.tracks, args.engines.split(","), args.memory_limit_gib, spark_args):
            row["machine"] = machine
            row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            with open(args.out / "results.jsonl", "a") as f:
                f.write(json.dumps(row, default=str) + "\n")
            print(json.dumps({k: v for k, v in row.items() if k != "machine"}, default=str), flush=True)


if __name__ == "__main__":
    main()
