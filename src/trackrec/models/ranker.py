"""The affinity ranker: candidates from strong generators, ranked by a logistic-regression
affinity model — the two-stage design music services use.

Fitting (all on the training data it is given; test data is never seen):

1. carve a validation split out of the training positives (each user's latest
   ``val_fraction`` of tracks by first play; a seeded random share without timestamps);
2. fit the generators (EASE, iALS, content similarity, popularity) on the rest;
3. for validation users, take each generator's top ``n_candidates`` (listened tracks excluded),
   describe every (user, candidate) by generator scores (standardised per user) and reciprocal
   ranks, track popularity and user activity, label it 1 if the user played it in validation;
4. fit the logistic regression on those rows — but first check, with a two-fold split of the
   validation users, that the learned ranking beats the best single generator; if it does not,
   the ranker passes that generator's ranking through (``mode_``);
5. refit the generators on all the training data for serving.

Scores returned are the model's probability that the user will play the candidate.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..exceptions import ModelUnavailableError, TrainingError
from .base import Recommender, top_k
from .collaborative import FLOOR

log = logging.getLogger(__name__)

__all__ = ["AffinityRanker", "validation_split"]


def validation_split(positives: sp.csr_matrix, first_played: np.ndarray | None, fraction: float,
                     rng: np.random.Generator) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(fit part, validation part) of a positives matrix: each user's latest ``fraction`` of
    tracks by first play (``floor``, users with < 1/fraction tracks keep all), or a random share."""
    pos = sp.csr_matrix(positives)
    pos.sort_indices()
    n = np.diff(pos.indptr)
    rows = np.repeat(np.arange(pos.shape[0]), n)
    key = first_played if first_played is not None and not np.isnan(first_played).any() else rng.random(pos.nnz)
    order = np.lexsort((key, rows))  # by user, then time
    rank_in_user = np.empty(pos.nnz, np.int64)
    rank_in_user[order] = np.arange(pos.nnz) - np.repeat(pos.indptr[:-1], n)
    n_val = np.floor(fraction * n).astype(np.int64)
    is_val = rank_in_user >= (n - n_val)[rows]
    def part(mask):
        m = sp.csr_matrix((pos.data[mask], (rows[mask], pos.indices[mask])), shape=pos.shape)
        m.sort_indices()
        return m
    return part(~is_val), part(is_val)


class AffinityRanker(Recommender):
    """Two-stage recommender (``affinity-ranker``).

    Parameters
    ----------
    generators : sequence of str
        Candidate generators by model name; those that cannot run on the data (content without
        a catalogue) are left out.
    generator_params : dict, optional
        Parameters per generator name, e.g. ``{"ease": {"l2": 300}}``.
    n_candidates : int
        Candidates taken from each generator per user.
    val_fraction : float
        Share of each user's training tracks used as the ranker's validation labels.
    C : float
        Inverse regularisation of the logistic regression.
    random_state : int
    """

    name = "affinity-ranker"

    def __init__(self, generators=("ease", "ials", "similarity", "popularity"), generator_params=None,
                 n_candidates: int = 100, val_fraction: float = 0.2, C: float = 1.0, random_state=0):
        self.generators = generators
        self.generator_params = generator_params
        self.n_candidates = n_candidates
        self.val_fraction = val_fraction
        self.C = C
        self.random_state = random_state

    def fit(self, dataset, *, prefit: dict[str, Recommender] | None = None) -> AffinityRanker:
        """Fit on ``dataset``. ``prefit`` may hold generators already fitted on this very dataset
        with the same parameters (e.g. the pipeline's own EASE and iALS): they are reused for
        serving instead of being fitted a second time."""
        self._prefit = prefit or {}
        try:
            return super().fit(dataset)
        finally:
            self._prefit = {}

    # --- generators --------------------------------------------------------------------
    def _make_generators(self, dataset, reuse: bool = False) -> dict[str, Recommender]:
        from . import make_model
        gens = {}
        for name in self.generators:
            params = dict((self.generator_params or {}).get(name, {}))
            model = make_model(name, **params)
            if "random_state" in model.get_params() and "random_state" not in params:
                model.set_params(random_state=self.random_state)
            done = getattr(self, "_prefit", {}).get(name) if reuse else None
            if (done is not None and getattr(done, "dataset_", None) is dataset
                    and done.get_params() == model.get_params()):
                gens[name] = done
                continue
            try:
                model.fit(dataset)
            except ModelUnavailableError as exc:
                log.info("ranker: generator %s left out: %s", name, exc)
                continue
            gens[name] = model
        if not gens:
            raise TrainingError("affinity-ranker: no candidate generator could be fitted")
        return gens

    # --- features -----------------------------------------------------------------------
    def feature_names(self) -> list[str]:
        names = []
        for g in self.generator_names_:
            names += [f"{g}:score_z", f"{g}:1/rank", f"{g}:score"]
        g = self.generator_names_
        return (names + ["log_popularity", "log_user_activity", "log_popularity*log_user_activity"]
                + [f"{g[i]}*{g[j]}:z" for i in range(len(g)) for j in range(i + 1, len(g))]
                + ["generators_with_it_in_top"])

    def _candidates(self, gens, uidx, hist):
        """Candidate (row, track) pairs and their features for a block of users."""
        n, T = hist.shape
        h = sp.csr_matrix(hist)
        hr = np.repeat(np.arange(n), np.diff(h.indptr))
        K = min(self.n_candidates, T)
        inv_rank = (1.0 / (1.0 + np.arange(K, dtype=np.float32)))
        row_of = np.repeat(np.arange(n, dtype=np.int64), K).reshape(n, K)
        per_gen, all_keys = [], []
        for name in self.generator_names_:
            g = gens[name]
            s, _ = g.score_block(uidx, hist)
            s = s.astype(np.float32, copy=False)
            s[:, ~g.candidate_mask()] = -np.inf
            s[hr, h.indices] = -np.inf
            idx, vals = top_k(s, K)
            ok = np.isfinite(vals) & (vals > FLOOR)
            keys = row_of[ok] * T + idx[ok]            # this generator's top-K as sorted keys
            order = np.argsort(keys, kind="stable")
            rr = np.broadcast_to(inv_rank, (n, K))[ok]
            v = np.where(ok, vals, np.nan)
            has = ok.any(axis=1, keepdims=True)
            mu = np.nanmean(np.where(has, v, 0.0), axis=1)
            sd = np.nanstd(np.where(has, v, 0.0), axis=1)
            per_gen.append((s, keys[order], rr[order], np.nan_to_num(mu), np.where(sd > 0, sd, 1.0)))
            all_keys.append(keys)
        cand = np.unique(np.concatenate(all_keys)) if all_keys else np.zeros(0, np.int64)
        rows, items = cand // T, cand % T
        cols = []
        for s, keys, rr, mu, sd in per_gen:
            sc = s[rows, items]
            z = (sc - mu[rows]) / sd[rows]
            z = np.where(np.isfinite(z), np.clip(z, -10, 10), -10.0)
            raw = np.where(np.isfinite(sc) & (sc > FLOOR), sc, np.nan)
            raw = np.where(np.isnan(raw), np.nanmin(raw) if np.isfinite(raw).any() else 0.0, raw)
            pos = np.searchsorted(keys, cand).clip(0, max(len(keys) - 1, 0))
            in_top = (keys[pos] == cand) if len(keys) else np.zeros(len(cand), bool)
            cols += [z, np.where(in_top, rr[pos] if len(keys) else 0.0, 0.0), raw]
        lp = np.log1p(self.popularity_[items])
        act = np.log1p(np.diff(h.indptr))[rows]
        cols += [lp, act, lp * act]
        zs = cols[0:3 * len(per_gen):3]
        for i in range(len(zs)):           # agreement between generators
            for j in range(i + 1, len(zs)):
                cols.append(zs[i] * zs[j])
        cols.append(sum(c > 0 for c in cols[1:3 * len(per_gen):3]).astype(np.float32))  # generators voting
        return rows, items, np.column_stack(cols).astype(np.float32)

    def _fit(self, dataset) -> None:
        rng = np.random.default_rng(self.random_state)
        fit_pos, val_pos = validation_split(dataset.positives, dataset.first_played, self.val_fraction, rng)
        if val_pos.nnz == 0:
            raise TrainingError("affinity-ranker: no validation listens (users need at least "
                                f"{int(np.ceil(1 / self.val_fraction))} tracks)")
        inner = dataset.with_positives(fit_pos)
        gens = self._make_generators(inner)
        self.generator_names_ = list(gens)
        saved_pop = self.popularity_
        self.popularity_ = inner.popularity()  # features describe the fit part only
        val_users = np.flatnonzero(np.diff(val_pos.indptr) > 0)
        X_parts, y_parts, row_user = [], [], []
        chunk = 1024
        val_pos.sort_indices()
        for s in range(0, len(val_users), chunk):
            u = val_users[s:s + chunk]
            hist = fit_pos[u]
            rows, items, F = self._candidates(gens, u, hist)
            labels = np.asarray(val_pos[u[rows], items]).ravel() > 0
            X_parts.append(F)
            y_parts.append(labels)
            row_user.append(u[rows])
        X, y, ru = np.vstack(X_parts), np.concatenate(y_parts), np.concatenate(row_user)
        self.popularity_ = saved_pop
        if y.sum() < 5 or y.all():
            raise TrainingError("affinity-ranker: too few validation hits among candidates to learn from")
        # Two-fold check on validation users: does the learned ranking beat every single generator?
        half = rng.random(len(val_users)) < 0.5
        in_a = np.isin(ru, val_users[half])
        gen_cols = {name: 3 * i + 1 for i, name in enumerate(self.generator_names_)}  # 1/rank column
        scores_model = np.zeros(len(y))
        for train_mask in (in_a, ~in_a):
            clf = self._new_clf().fit(X[train_mask], y[train_mask])
            scores_model[~train_mask] = clf.decision_function(X[~train_mask])
        quality = {"affinity-ranker": self._ndcg(ru, scores_model, y)}
        for name, col in gen_cols.items():
            quality[name] = self._ndcg(ru, X[:, col] + 1e-6 * X[:, col - 1], y)
        self.validation_ndcg_ = quality
        best = max(quality, key=quality.get)
        self.mode_ = "ranker" if best == "affinity-ranker" else f"generator:{best}"
        self.clf_ = self._new_clf().fit(X, y)
        log.info("affinity-ranker validation NDCG@10: %s -> %s", quality, self.mode_)
        self.generators_ = self._make_generators(dataset, reuse=True)
        self.generator_names_ = [g for g in self.generator_names_ if g in self.generators_]

    def _new_clf(self):
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=1000))

    @staticmethod
    def _ndcg(row_user, scores, y, k: int = 10) -> float:
        """Mean NDCG@k over users of a candidate-level ranking (ties broken by order)."""
        order = np.lexsort((-scores, row_user))
        ru, yy = row_user[order], y[order]
        starts = np.flatnonzero(np.r_[True, ru[1:] != ru[:-1]])
        pos = np.arange(len(ru)) - np.repeat(starts, np.diff(np.r_[starts, len(ru)]))
        disc = np.where(pos < k, 1.0 / np.log2(pos + 2.0), 0.0)
        users, inv = np.unique(ru, return_inverse=True)
        dcg = np.bincount(inv, weights=disc * yy, minlength=len(users))
        n_rel = np.bincount(inv, weights=yy.astype(float), minlength=len(users))
        ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))[np.clip(n_rel.astype(int), 1, k) - 1]
        ok = n_rel > 0
        return float((dcg[ok] / ideal[ok]).mean()) if ok.any() else 0.0

    # --- scoring ------------------------------------------------------------------------
    def _score(self, uidx, history):
        if self.mode_.startswith("generator:"):
            g = self.generators_[self.mode_.split(":", 1)[1]]
            return g.score_block(uidx, history)[0]
        rows, items, F = self._candidates(self.generators_, uidx, history)
        out = np.full(history.shape, FLOOR, dtype=np.float32)
        out[rows, items] = self.clf_.decision_function(F)
        return out

    def _output_scores(self, raw):
        if self.mode_.startswith("generator:"):
            return self.generators_[self.mode_.split(":", 1)[1]]._output_scores(raw)
        return 1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=np.float64)))

    def candidate_mask(self):
        self._check_fitted()
        m = np.zeros(self.dataset_.n_tracks, bool)
        for g in self.generators_.values():
            m |= g.candidate_mask()
        return m

    def explain(self) -> dict[str, float]:
        """Weights of the affinity model per feature (on standardised features): what drives affinity."""
        lr = self.clf_[-1]
        return dict(zip(self.feature_names(), lr.coef_.ravel().astype(float).tolist()))

    # --- persistence ---------------------------------------------------------------------
    def get_params_state(self):
        meta = {"params": self.get_params(), "mode": self.mode_, "generators": self.generator_names_,
                "validation_ndcg": self.validation_ndcg_, "generator_state": {}}
        arrays = {"scaler_mean": self.clf_[0].mean_, "scaler_scale": self.clf_[0].scale_,
                  "coef": self.clf_[-1].coef_, "intercept": self.clf_[-1].intercept_}
        for name, g in self.generators_.items():
            gm, ga = g.get_params_state()
            meta["generator_state"][name] = {"state": gm, "arrays": sorted(ga)}
            arrays.update({f"gen.{name}.{k}": v for k, v in ga.items()})
        return meta, arrays

    def set_params_state(self, dataset, meta, arrays):
        from . import MODELS
        super().set_params_state(dataset, meta, arrays)
        params = dict(meta["params"])
        params["generators"] = tuple(params["generators"])
        self.set_params(**params)
        self.mode_, self.generator_names_ = meta["mode"], list(meta["generators"])
        self.validation_ndcg_ = meta["validation_ndcg"]
        self.generators_ = {}
        for name in self.generator_names_:
            g = MODELS[name]()
            entry = meta["generator_state"][name]
            g.set_params_state(dataset, entry["state"], {k: arrays[f"gen.{name}.{k}"] for k in entry["arrays"]})
            self.generators_[name] = g
        scaler = StandardScaler()
        scaler.mean_, scaler.scale_ = arrays["scaler_mean"], arrays["scaler_scale"]
        scaler.var_ = scaler.scale_ ** 2
        scaler.n_features_in_ = len(scaler.mean_)
        lr = LogisticRegression(C=self.C)
        lr.coef_, lr.intercept_ = arrays["coef"], arrays["intercept"]
        lr.classes_ = np.array([False, True])
        lr.n_features_in_ = lr.coef_.shape[1]
        self.clf_ = make_pipeline(scaler, lr)
