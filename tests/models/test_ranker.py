"""The two-stage affinity ranker and its generators (EASE, iALS)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from trackrec.data.dataset import Dataset
from trackrec.evaluation.split import split_sessions
from trackrec.models import EASE, IALS, AffinityRanker
from trackrec.models.ranker import validation_split
from trackrec.pipeline import fit_models


@pytest.fixture(scope="module")
def world_train(world):
    catalog, sessions = world
    train, test, _ = split_sessions(sessions)
    return Dataset.from_frames(train, catalog), test


@pytest.fixture(scope="module")
def ranker(world_train):
    return AffinityRanker(random_state=0).fit(world_train[0])


def test_validation_split_takes_each_users_latest_tracks(world_train):
    ds = world_train[0]
    fit, val = validation_split(ds.positives, ds.first_played, 0.2, np.random.default_rng(0))
    assert (fit + val - ds.positives).nnz == 0  # a partition
    assert fit.multiply(val).nnz == 0
    first = sp.csr_matrix((ds.first_played, ds.positives.indices, ds.positives.indptr), shape=ds.positives.shape)
    for u in range(0, ds.n_users, 7):
        v, f = val[u].indices, fit[u].indices
        n = ds.positives[u].nnz
        assert len(v) == int(np.floor(0.2 * n))
        if len(v) and len(f):
            assert first[u, v].toarray().min() >= first[u, f].toarray().max()


def test_ranker_learns_weights_and_records_its_validation_check(ranker):
    w = ranker.explain()
    assert list(w) == ranker.feature_names() and len(w) == ranker.clf_[-1].coef_.shape[1]
    assert set(ranker.validation_ndcg_) == {"affinity-ranker", *ranker.generator_names_}
    assert ranker.mode_ == "ranker" or ranker.mode_.startswith("generator:")
    # the check's verdict is the best entry
    best = max(ranker.validation_ndcg_, key=ranker.validation_ndcg_.get)
    assert ranker.mode_ == ("ranker" if best == "affinity-ranker" else f"generator:{best}")


def test_ranker_scores_are_probabilities_and_lists_personal(ranker, world_train):
    ds = world_train[0]
    users = list(ds.users.external_ids[:2])
    a, b = ranker.recommend(users, 10)
    assert list(a.track_ids) != list(b.track_ids)
    if ranker.mode_ == "ranker":
        assert ((a.scores > 0) & (a.scores < 1)).all()


def test_ranker_passes_the_best_generator_through_when_validation_says_so(world_train, monkeypatch):
    """Where one generator is best on validation, the ranker must know it and not lose to it."""
    ds = world_train[0]
    real = AffinityRanker._ndcg
    calls = {"n": 0}

    def ndcg(row_user, scores, y, k=10):
        calls["n"] += 1
        value = real(row_user, scores, y, k)
        return value - 1.0 if calls["n"] == 1 else value  # the first call scores the learned ranking

    monkeypatch.setattr(AffinityRanker, "_ndcg", staticmethod(ndcg))
    r = AffinityRanker(generators=("ease", "popularity"), random_state=0).fit(ds)
    assert r.mode_ == "generator:ease"
    ease = EASE().fit(ds)
    users = list(ds.users.external_ids[:20])
    for got, want in zip(r.recommend(users, 10), ease.recommend(users, 10)):
        assert list(got.track_ids) == list(want.track_ids)
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5)


def test_pipeline_ranker_reuses_the_generators_it_can(world_train):
    ds = world_train[0]
    models, _, _ = fit_models(ds, ["ease", "ials", "affinity-ranker"], random_state=0,
                              params={"affinity-ranker": {"generators": ("ease", "ials")}})
    r = models["affinity-ranker"]
    assert r.generators_["ease"] is models["ease"] and r.generators_["ials"] is models["ials"]
    other, _, _ = fit_models(ds, ["ease", "affinity-ranker"], random_state=0,
                             params={"affinity-ranker": {"generators": ("ease", "popularity"),
                                                         "generator_params": {"ease": {"l2": 50.0}}}})
    assert other["affinity-ranker"].generators_["ease"] is not other["ease"]
    assert other["affinity-ranker"].generators_["ease"].l2 == 50.0


def test_ease_matches_the_closed_form():
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 1], [0, 0, 1, 1], [1, 1, 1, 0]], np.float32))
    from trackrec.data.idmap import IdMap
    ds = Dataset(users=IdMap([f"u{i}" for i in range(5)]), tracks=IdMap([f"t{i}" for i in range(4)]),
                 positives=X, played=X.astype(bool))
    m = EASE(l2=2.0, min_listeners=1).fit(ds)
    G = X.T.toarray() @ X.toarray() + 2.0 * np.eye(4)
    P = np.linalg.inv(G)
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    np.testing.assert_allclose(m.B_, B, rtol=1e-4, atol=1e-6)
    assert np.allclose(np.diag(m.B_), 0.0)


def test_ials_recomputes_a_user_from_a_given_history(world_train):
    ds = world_train[0]
    m = IALS(iterations=10, random_state=0).fit(ds)
    u = ds.users.external_ids[0]
    fitted = m.recommend(u, 10)
    same = m.recommend(u, 10, user_items={u: list(ds.tracks.external_ids[ds.positives[0].indices])})
    overlap = len(set(fitted.track_ids) & set(same.track_ids))
    assert overlap >= 7  # a solve against fixed item factors lands near the trained user factors
    assert m.factors_ == 32 and m.item_factors_.shape[1] == 32
