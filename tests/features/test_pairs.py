"""Training pairs: positives, sampled negatives (never a played track), feature sets."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from trackrec.exceptions import TrainingError
from trackrec.features.embeddings import TrackEncoder
from trackrec.features.pairs import build_pairs, feature_names, pair_features, sample_negatives
from trackrec.features.profiles import user_profiles


@pytest.fixture(scope="module")
def emb(tiny_dataset, tiny_catalog):
    enc = TrackEncoder().fit(tiny_catalog)
    e = np.zeros((tiny_dataset.n_tracks, enc.n_features_out_), np.float32)
    e[:12] = enc.transform(tiny_catalog)
    return e


def _pairs(ds, emb, **kw):
    kw.setdefault("random_state", 0)
    return build_pairs(ds.positives, ds.played, emb, ds.has_content, popularity=ds.popularity(), **kw)


def test_positives_are_enjoyed_catalogue_tracks(tiny_dataset, emb):
    X, y, u, t = _pairs(tiny_dataset, emb)
    pos = set(zip(u[y == 1].tolist(), t[y == 1].tolist()))
    ds = tiny_dataset
    expected = {(i, j) for i, j in zip(*ds.positives.nonzero()) if ds.has_content[j]}
    assert pos == expected  # carol's x99 (no content) is not a positive pair; dave has none
    assert len(y) == len(X) == len(u) == len(t)
    assert set(np.unique(y)) == {0, 1}


def test_negatives_never_played_including_skipped_only(tiny_dataset, emb):
    ds = tiny_dataset
    played = ds.played.toarray()
    for seed in range(20):
        _, y, u, t = _pairs(ds, emb, random_state=seed, negatives_per_positive=4)
        assert not played[u[y == 0], t[y == 0]].any()
        assert ds.has_content[t[y == 0]].all()
    # "007" skipped t09 and "7" skipped t11: played, not positive, so never negatives either
    u007, u7 = ds.users.to_internal(["007", "7"])
    t09, t11 = ds.tracks.to_internal(["t09", "t11"])
    assert ds.positives[u007, t09] == 0 and played[u007, t09]
    negs = set()
    for seed in range(50):
        _, y, u, t = _pairs(ds, emb, random_state=seed)
        negs |= set(zip(u[y == 0].tolist(), t[y == 0].tolist()))
    assert (u007, t09) not in negs and (u7, t11) not in negs
    assert any(p[0] == u007 for p in negs)  # the check is not vacuous


@pytest.mark.parametrize("ratio", [1, 2, 4])
def test_ratio_configurable(tiny_dataset, emb, ratio):
    _, y, _, _ = _pairs(tiny_dataset, emb, negatives_per_positive=ratio)
    assert (y == 0).sum() == ratio * (y == 1).sum()


def test_ratio_must_be_positive(tiny_dataset, emb):
    with pytest.raises(ValueError, match="negatives_per_positive must be >= 1, got 0"):
        _pairs(tiny_dataset, emb, negatives_per_positive=0)


def test_seeded_determinism(tiny_dataset, emb):
    a = _pairs(tiny_dataset, emb, random_state=3)
    b = _pairs(tiny_dataset, emb, random_state=3)
    c = _pairs(tiny_dataset, emb, random_state=4)
    for x, z in zip(a, b):
        np.testing.assert_array_equal(x, z)
    assert not np.array_equal(a[3], c[3])


def test_sampler_must_be_known(tiny_dataset, emb):
    with pytest.raises(ValueError, match=r"sampler must be one of \('uniform', 'popularity'\), got 'zipf'"):
        _pairs(tiny_dataset, emb, sampler="zipf")


def test_popularity_sampler_prefers_popular_tracks():
    n_users, n_tracks = 1, 50
    excluded = sp.csr_matrix((n_users, n_tracks), dtype=bool)
    pop = np.zeros(n_tracks)
    pop[7] = 1000.0
    users = np.zeros(20_000, dtype=np.int64)
    rng = np.random.default_rng(0)
    _, uni = sample_negatives(excluded, users, np.arange(n_tracks), rng, sampler="uniform")
    _, popd = sample_negatives(excluded, users, np.arange(n_tracks), np.random.default_rng(0),
                               sampler="popularity", popularity=pop)
    share_uni, share_pop = (uni == 7).mean(), (popd == 7).mean()
    # weight (1000+1)^0.75 ~ 178 vs 1 for the 49 others: ~78% of draws
    assert share_uni < 0.05 and 0.7 < share_pop < 0.85


def test_sample_negatives_respects_exclusions_and_drops_impossible_users():
    excluded = sp.csr_matrix(np.array([[1, 1, 0, 1], [1, 1, 1, 1]], dtype=bool))
    users = np.array([0, 0, 0, 1, 1])
    u, t = sample_negatives(excluded, users, np.arange(4), np.random.default_rng(0))
    assert u.tolist() == [0, 0, 0] and t.tolist() == [2, 2, 2]  # user 1 played everything: dropped
    with pytest.raises(TrainingError, match="no candidate tracks to sample negatives from"):
        sample_negatives(excluded, users, np.array([], dtype=np.int64), np.random.default_rng(0))


def test_leave_one_out_profile_for_positives(tiny_dataset, emb):
    ds = tiny_dataset
    X, y, u, t = _pairs(ds, emb, feature_set="concat")
    d = emb.shape[1]
    w = ds.positives.toarray().astype(np.float64)
    w[:, ~ds.has_content] = 0
    w = np.log1p(w)
    for i in np.flatnonzero(y == 1):
        wi = w[u[i]].copy()
        wi[t[i]] = 0  # leave the positive track out
        expected = wi @ emb / wi.sum()
        np.testing.assert_allclose(X[i, :d], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(X[i, d:], emb[t[i]], rtol=1e-6)
    full, _ = user_profiles(ds.positives, emb, ds.has_content)
    for i in np.flatnonzero(y == 0):  # negatives use the full profile
        np.testing.assert_allclose(X[i, :d], full[u[i]], rtol=1e-5, atol=1e-6)


def test_single_track_user_gets_mean_profile():
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]], np.float32)
    pos = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 1, 0]], np.float32))
    X, y, u, t = build_pairs(pos, pos.astype(bool), emb, np.ones(4, bool), feature_set="concat",
                             negatives_per_positive=1, random_state=0)
    i = np.flatnonzero((y == 1) & (u == 0))[0]
    prof, total = user_profiles(pos, emb)
    np.testing.assert_allclose(X[i, :2], prof[total > 0].mean(axis=0), rtol=1e-6)


def test_no_positives_is_a_training_error(tiny_dataset, emb):
    empty = sp.csr_matrix(tiny_dataset.positives.shape, dtype=np.float32)
    with pytest.raises(TrainingError, match="no positive plays on catalogue tracks: nothing to learn from"):
        build_pairs(empty, tiny_dataset.played, emb, tiny_dataset.has_content)


def test_feature_set_shapes(tiny_dataset, emb):
    d = emb.shape[1]
    Xc, *_ = _pairs(tiny_dataset, emb, feature_set="concat")
    Xb, *_ = _pairs(tiny_dataset, emb, feature_set="bilinear")
    assert Xc.shape[1] == 2 * d and Xb.shape[1] == 3 * d + 1
    assert Xc.dtype == Xb.dtype == np.float32
    np.testing.assert_array_equal(Xb[:, :2 * d], Xc)  # same seed, same pairs
    assert len(feature_names(["a", "b"], "concat")) == 4
    assert feature_names(["a", "b"], "bilinear")[-3:] == ["user*track:a", "user*track:b", "cosine(user,track)"]


def test_pair_features_bilinear_values():
    u = np.array([[1.0, 2.0], [0.0, 0.0]], np.float32)
    t = np.array([[3.0, 4.0], [1.0, 1.0]], np.float32)
    x = pair_features(u, t, "bilinear")
    np.testing.assert_allclose(x[0], [1, 2, 3, 4, 3, 8, 11 / (np.sqrt(5) * 5)], rtol=1e-6)
    assert x[1, -1] == 0.0  # zero profile: cosine 0, not NaN
    with pytest.raises(ValueError, match=r"feature_set must be one of \('bilinear', 'concat'\), got 'outer'"):
        pair_features(u, t, "outer")
