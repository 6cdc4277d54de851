"""User profiles: log-play-weighted mean of enjoyed tracks' embeddings."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from trackrec.features.profiles import history_weights, user_profiles


def test_weighted_mean_by_log_plays():
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]], np.float32)
    hist = sp.csr_matrix(np.array([[3, 1, 0], [0, 0, 0], [0, 2, 1]], np.float32))
    prof, total = user_profiles(hist, emb)
    w0 = np.log1p([3.0, 1.0])
    np.testing.assert_allclose(prof[0], (w0[0] * emb[0] + w0[1] * emb[1]) / w0.sum(), rtol=1e-6)
    np.testing.assert_allclose(total, [w0.sum(), 0.0, np.log1p(2) + np.log1p(1)], rtol=1e-6)
    assert (prof[1] == 0).all()  # no history: zero vector, no NaN


def test_tracks_without_content_are_ignored():
    emb = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    hist = sp.csr_matrix(np.array([[1, 4], [0, 2]], np.float32))
    prof, total = user_profiles(hist, emb, has_content=np.array([True, False]))
    np.testing.assert_allclose(prof[0], [1.0, 0.0])
    assert total[1] == 0 and (prof[1] == 0).all()
    w = history_weights(hist, np.array([True, False]))
    assert w.nnz == 1


def test_profile_of_tiny_rock_fan_is_rock(tiny_dataset, tiny_catalog):
    from trackrec.features.embeddings import TrackEncoder
    enc = TrackEncoder().fit(tiny_catalog)
    emb = np.zeros((tiny_dataset.n_tracks, enc.n_features_out_), np.float32)
    emb[:12] = enc.transform(tiny_catalog)
    prof, _ = user_profiles(tiny_dataset.positives, emb, tiny_dataset.has_content)
    names = enc.feature_names_
    u007, u7 = tiny_dataset.users.to_internal(["007", "7"])
    assert prof[u007, names.index("genre=rock")] == 1.0 and prof[u007, names.index("genre=jazz")] == 0.0
    assert prof[u7, names.index("genre=jazz")] == 1.0 and prof[u7, names.index("genre=rock")] == 0.0
    dave = tiny_dataset.users.to_internal(["dave"])[0]
    assert (prof[dave] == 0).all()
