"""Batch recommendation speed: users/second for top-10 over a 20,000-track catalogue.

Compares trackrec's ``recommend_all`` (affinity-lr: profiles, one matrix product per chunk of
users, exclusion of listened tracks, top-k by partial sort, long-format output) with a bare
numpy bound measured in the same run on the same shapes: one matrix product of the same
(users x 2d) @ (2d x tracks) shape plus ``argpartition`` and nothing else. The ratio is what
counts (machines are noisy); the target is within 2x of the bound.

    python benchmarks/batch_recommend.py [--users 5000] [--tracks 20000] [--plays 400000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from trackrec.data.dataset import Dataset
from trackrec.data.generate import generate_world
from trackrec.models import AffinityLR, IALS, PopularityRecommender, SimilarityRecommender
from trackrec.models.base import DEFAULT_CHUNK


def bound(n_users: int, M: np.ndarray, k: int, chunk: int, rng) -> float:
    """Seconds for the bare work: (chunk x 2d) @ (2d x T) and argpartition, per chunk."""
    A = rng.standard_normal((min(chunk, n_users), M.shape[0])).astype(np.float32)
    t0 = time.perf_counter()
    for s in range(0, n_users, chunk):
        n = min(chunk, n_users - s)
        S = A[:n] @ M
        np.argpartition(S, -k, axis=1)[:, -k:]
    return time.perf_counter() - t0


def best_of(fn, repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--tracks", type=int, default=20000)
    ap.add_argument("--plays", type=int, default=400_000)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    catalog, sessions = generate_world(n_users=args.users, n_tracks=args.tracks, n_plays=args.plays, random_state=0)
    ds = Dataset.from_frames(sessions, catalog)
    rng = np.random.default_rng(0)
    results = {"users": ds.n_users, "tracks": ds.n_tracks, "k": args.k, "chunk": DEFAULT_CHUNK, "models": {}}
    lr = AffinityLR().fit(ds)
    t_bound = best_of(lambda: bound(ds.n_users, lr._M, args.k, DEFAULT_CHUNK, rng), args.repeats)
    results["bound_users_per_s"] = ds.n_users / t_bound
    models = {"affinity-lr": lr, "similarity": SimilarityRecommender().fit(ds),
              "popularity": PopularityRecommender().fit(ds), "ials": IALS(iterations=5).fit(ds)}
    for name, model in models.items():
        def run(model=model):
            t0 = time.perf_counter()
            df = model.recommend_all(args.k)
            assert len(df) == ds.n_users * args.k
            return time.perf_counter() - t0
        t = best_of(run, args.repeats)
        results["models"][name] = {"seconds": t, "users_per_s": ds.n_users / t, "ratio_to_bound": t / t_bound}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{ds.n_users} users x {ds.n_tracks} tracks, top-{args.k}, chunks of {DEFAULT_CHUNK} users, "
          f"best of {args.repeats}")
    print(f"numpy bound (matmul + argpartition): {results['bound_users_per_s']:,.0f} users/s")
    print("| model | users/s | seconds | time / bound |\n| --- | --- | --- | --- |")
    for name, r in results["models"].items():
        print(f"| {name} | {r['users_per_s']:,.0f} | {r['seconds']:.2f} | {r['ratio_to_bound']:.2f}x |")


if __name__ == "__main__":
    main()
