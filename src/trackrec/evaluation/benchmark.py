"""The offline benchmark: every model, the evaluation protocol, mean +- std over seeds.

Protocol (docs/benchmarks.md): per-user split (time-respecting with timestamps, seeded random
20% without); every model fitted on train only; full-catalogue ranking of every test user
excluding their train tracks; NDCG@10, Recall@20, MAP@10, HitRate@10, coverage@10, fit and
recommend seconds, peak memory.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import schema as S
from ..data.dataset import Dataset
from ..exceptions import ModelUnavailableError
from ..models import make_model
from .memory import PeakMemory
from .metrics import METRIC_KEYS
from .runner import evaluate_ranking
from .split import split_sessions

log = logging.getLogger(__name__)

__all__ = ["ALL_MODELS", "run_benchmark", "results_markdown", "write_results"]

ALL_MODELS = ("popularity", "similarity", "affinity-lr-concat", "affinity-lr", "ials", "ease", "affinity-ranker")
LABELS = {
    "popularity": "popularity (train listeners)",
    "similarity": "content cosine (profile vs embedding)",
    "affinity-lr-concat": "textbook LR on [u, t]: same ranking for every user",
    "affinity-lr": "personal LR on [u, t, u*t, cos]",
    "ials": "iALS (implicit)",
    "ease": "EASE (closed form)",
    "affinity-ranker": "LR ranker over EASE + iALS + content + popular candidates",
}
FIGURES = METRIC_KEYS + ("fit_s", "recommend_s", "peak_mb")


def _with_generator_params(name: str, params: dict) -> dict:
    p = dict(params.get(name, {}))
    if name == "affinity-ranker":
        gp = {g: params[g] for g in ("ease", "ials") if g in params}
        if gp:
            p.setdefault("generator_params", gp)
    return p


def run_benchmark(sessions: pd.DataFrame, catalog: pd.DataFrame | None = None, *,
                  models: Sequence[str] = ALL_MODELS, seeds: int = 3, params: dict | None = None,
                  tune: int = 0, dataset_name: str = "custom",
                  progress: Callable[[str], None] = lambda _m: None) -> dict:
    """Run every model over ``seeds`` seeds; returns the results dict (see :func:`write_results`).

    ``tune`` > 0 runs that many Optuna trials per seed for EASE and iALS on a validation split
    carved out of train (never test); the ranker's generators use the tuned values.
    """
    params = dict(params or {})
    runs: dict[str, list[dict]] = {m: [] for m in models}
    skipped: dict[str, str] = {}
    split_info = None
    for seed in range(seeds):
        train, test, split_info = split_sessions(sessions, random_state=seed)
        ds = Dataset.from_frames(train, catalog)
        seed_params = dict(params)
        if tune:
            from .tuning import tune_collaborative
            progress(f"seed {seed}: tuning EASE and iALS ({tune} trials each, validation split of train)")
            seed_params.update(tune_collaborative(ds, n_trials=tune, random_state=seed))
        fitted: dict = {}
        for name in models:
            if name in skipped:
                continue
            progress(f"seed {seed}: {name}")
            model = make_model(name, **_with_generator_params(name, seed_params))
            if "random_state" in model.get_params():
                model.set_params(random_state=seed)
            with PeakMemory() as pm:
                t0 = time.perf_counter()
                try:
                    # the ranker reuses this seed's EASE/iALS when their parameters match
                    # (reported fit time then excludes them; see docs/benchmarks.md)
                    model.fit(ds, prefit=fitted) if name == "affinity-ranker" else model.fit(ds)
                except ModelUnavailableError as exc:
                    skipped[name] = str(exc)
                    continue
                fit_s = time.perf_counter() - t0
                m = evaluate_ranking(model, test)
            m.update(fit_s=fit_s, peak_mb=pm.peak_mb)
            fitted[name] = model
            if hasattr(model, "validation_ndcg_"):
                m["ranker_mode"] = model.mode_
                m["weights"] = model.explain()
            if tune:
                m["params"] = _with_generator_params(name, seed_params)
            runs[name].append(m)
    out_models = {}
    for name, rs in runs.items():
        if not rs:
            continue
        entry = {}
        for key in FIGURES:
            vals = np.array([r[key] for r in rs], dtype=float)
            entry[key] = float(vals.mean())
            entry[f"{key}_std"] = float(vals.std(ddof=0))
        entry["label"] = LABELS.get(name, name)
        if "ranker_mode" in rs[0]:
            entry["ranker_mode"] = [r["ranker_mode"] for r in rs]
            entry["weights"] = {k: float(np.mean([r["weights"].get(k, 0.0) for r in rs])) for k in rs[0]["weights"]}
        if tune:
            entry["params"] = [r.get("params") for r in rs]
        out_models[name] = entry
    return {"dataset": dataset_name, "seeds": seeds, "models": out_models, "skipped": skipped,
            "split": {k: v for k, v in (split_info or {}).items() if k != "seed"},
            "users": int(sessions[S.USER].nunique()), "tracks": int(sessions[S.TRACK].nunique()),
            "interactions": int(len(sessions))}


def results_markdown(results: dict) -> str:
    """The results as a Markdown table (mean +- std over seeds)."""
    head = ("| model | NDCG@10 | Recall@20 | MAP@10 | HitRate@10 | Coverage@10 | fit s | recommend s | peak MB |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
    rows = []
    for name, e in results["models"].items():
        cells = [f"{e[k]:.4f} ± {e[k + '_std']:.4f}" for k in METRIC_KEYS]
        cells += [f"{e['fit_s']:.1f}", f"{e['recommend_s']:.2f}", f"{e['peak_mb']:.0f}"]
        rows.append(f"| `{name}` — {e['label']} | " + " | ".join(cells) + " |")
    notes = []
    ranked = {n: e["ndcg@10"] for n, e in results["models"].items()}
    if "affinity-ranker" in ranked and ("ease" in ranked or "ials" in ranked):
        best = max((n for n in ("ease", "ials") if n in ranked), key=ranked.get)
        gain = ranked["affinity-ranker"] / ranked[best] - 1 if ranked[best] else float("nan")
        notes.append(f"affinity-ranker vs the better of EASE/iALS ({best}): {gain:+.1%} NDCG@10.")
    if "affinity-ranker" in results["models"] and "weights" in results["models"]["affinity-ranker"]:
        w = results["models"]["affinity-ranker"]["weights"]
        top = sorted(w.items(), key=lambda kv: -abs(kv[1]))[:5]
        notes.append("What drives affinity (ranker weights on standardised features, mean over seeds): "
                     + ", ".join(f"{k} {v:+.2f}" for k, v in top) + ".")
    for name, why in results.get("skipped", {}).items():
        notes.append(f"`{name}` not run: {why}")
    split = results.get("split", {})
    info = (f"Dataset `{results['dataset']}`: {results['users']} users, {results['tracks']} tracks, "
            f"{results['interactions']} interaction rows; split {split.get('kind')} "
            f"(test fraction {split.get('test_fraction')}); {results['seeds']} seed(s).\n\n")
    return info + head + "\n".join(rows) + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "") + "\n"


def write_results(results: dict, out_dir: str | Path) -> list[Path]:
    """``results.md``, ``results.json`` and two PNG plots into ``out_dir``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(results_markdown(results), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    names = list(results["models"])
    e = results["models"]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(names, [e[n]["ndcg@10"] for n in names], xerr=[e[n]["ndcg@10_std"] for n in names],
            color=["#d62728" if n == "affinity-ranker" else "#1f77b4" for n in names], capsize=3)
    ax.set_xlabel("NDCG@10 (mean ± std over seeds)")
    ax.set_title(f"{results['dataset']}: full-catalogue ranking of held-out listens")
    fig.tight_layout()
    fig.savefig(out / "ndcg.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for n in names:
        t = e[n]["fit_s"] + e[n]["recommend_s"]
        ax.scatter(t, e[n]["ndcg@10"], s=40)
        ax.annotate(n, (t, e[n]["ndcg@10"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("fit + recommend-all seconds (log)")
    ax.set_ylabel("NDCG@10")
    ax.set_title("quality vs time")
    fig.tight_layout()
    fig.savefig(out / "quality_vs_time.png", dpi=120)
    plt.close(fig)
    return [out / "results.md", out / "results.json", out / "ndcg.png", out / "quality_vs_time.png"]
