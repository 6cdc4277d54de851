"""The course functions, end to end, on the tiny world and the shared trained bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trackrec
from trackrec import (build_track_embeddings, build_user_profiles, generate_batch_recommendations, load_model,
                      predict_affinity_scores_for_user, prepare_training_data, recommend_tracks_by_prediction,
                      recommend_tracks_by_similarity, save_model, train_affinity_model)
from trackrec.exceptions import DataError, TrainingError, UnknownTrackError


def test_public_api_exported():
    for name in ("prepare_training_data", "train_affinity_model", "save_model", "load_model",
                 "predict_affinity_scores_for_user", "recommend_tracks_by_prediction",
                 "recommend_tracks_by_similarity", "generate_batch_recommendations"):
        assert name in trackrec.__all__ and callable(getattr(trackrec, name))


def test_build_track_embeddings_and_profiles(tiny_sessions, tiny_catalog):
    emb = build_track_embeddings(tiny_catalog)
    assert emb.index.tolist() == tiny_catalog["track_id"].tolist() and emb.shape == (12, 12)
    prof = build_user_profiles(tiny_sessions, tiny_catalog)
    assert prof.index.tolist() == ["007", "7", "alice", "bob", "carol", "dave"]
    assert list(prof.columns) == list(emb.columns)
    assert prof.loc["007", "genre=rock"] == pytest.approx(1.0) and (prof.loc["dave"] == 0).all()


def test_prepare_training_data_shapes_and_labels(tiny_sessions, tiny_catalog):
    X, y = prepare_training_data(tiny_sessions, tiny_catalog, negatives_per_positive=3, random_state=0)
    n_pos = 3 + 4 + 4 + 4 + 4  # distinct enjoyed (user, catalogue track) pairs in the tiny world
    assert X.shape == (4 * n_pos, 3 * 12 + 1) and y.shape == (4 * n_pos,)
    assert (y == 1).sum() == n_pos and (y == 0).sum() == 3 * n_pos
    Xc, _ = prepare_training_data(tiny_sessions, tiny_catalog, feature_set="concat", random_state=0)
    assert Xc.shape[1] == 24
    X2, y2 = prepare_training_data(tiny_sessions, tiny_catalog, negatives_per_positive=3, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_prepare_training_data_needs_shared_tracks(tiny_sessions):
    cat = pd.DataFrame({"track_id": ["zz1", "zz2"], "genre": ["rock", "pop"]})
    with pytest.raises(TrainingError, match="no positive plays on catalogue tracks: nothing to learn from"):
        prepare_training_data(tiny_sessions, cat)


def test_train_affinity_model_metrics(tiny_sessions, tiny_catalog):
    X, y = prepare_training_data(tiny_sessions, tiny_catalog, random_state=0)
    clf, metrics = train_affinity_model(X, y, random_state=0)
    assert set(metrics) == {"accuracy", "roc_auc", "n_train_pairs", "n_test_pairs", "positive_rate"}
    assert metrics["n_train_pairs"] + metrics["n_test_pairs"] == len(y)
    assert metrics["positive_rate"] == pytest.approx(0.2)
    p = clf.predict_proba(X[:5])[:, 1]
    assert ((p >= 0) & (p <= 1)).all()
    with pytest.raises(TrainingError, match="not enough data to train"):
        train_affinity_model(X[:5], y[:5])


def test_predict_affinity_scores_for_user(trained_bundle):
    ds = trained_bundle.dataset
    uid = ds.users.external_ids[0]
    s = predict_affinity_scores_for_user(trained_bundle, uid)
    assert isinstance(s, pd.Series) and s.index.name == "track_id"
    assert len(s) == int(ds.has_content.sum()) and s.index.is_unique
    assert ((s >= 0) & (s <= 1)).all() and s.std() > 0
    some = list(s.index[[5, 0, 9]])
    part = predict_affinity_scores_for_user(trained_bundle, uid, track_ids=some)
    assert part.index.tolist() == some
    np.testing.assert_allclose(part.to_numpy(), s[some].to_numpy())
    # consistent with the recommender's scores
    rec = recommend_tracks_by_prediction(trained_bundle, uid, k=5)
    np.testing.assert_allclose(rec["score"].to_numpy(), s[rec["track_id"]].to_numpy(), rtol=1e-5)


def test_predict_unknown_track_is_an_error(trained_bundle):
    with pytest.raises(UnknownTrackError, match="unknown track id 'no-such-track'"):
        predict_affinity_scores_for_user(trained_bundle, trained_bundle.dataset.users.external_ids[0],
                                         track_ids=["no-such-track"])


def test_predict_unknown_user_is_not_an_error(trained_bundle):
    s = predict_affinity_scores_for_user(trained_bundle, "someone-new")
    assert ((s >= 0) & (s <= 1)).all()


def test_recommend_tracks_by_prediction_skips_listened(trained_bundle):
    uid = trained_bundle.dataset.users.external_ids[3]
    heard = set(trained_bundle.history(uid))
    assert heard
    df = recommend_tracks_by_prediction(trained_bundle, uid, k=10)
    assert len(df) == 10 and df["rank"].tolist() == list(range(1, 11))
    assert not heard & set(df["track_id"])
    assert {"title", "artist", "genre", "mood", "score"} <= set(df.columns)
    assert df["score"].is_monotonic_decreasing
    with_heard = recommend_tracks_by_prediction(trained_bundle, uid, k=50, exclude_listened=False)
    assert heard & set(with_heard["track_id"])
    sim = recommend_tracks_by_similarity(trained_bundle, uid, k=10)
    assert len(sim) == 10 and not heard & set(sim["track_id"])


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_generate_batch_recommendations(trained_bundle, tmp_path, ext):
    out = tmp_path / "sub" / f"recs{ext}"
    df = generate_batch_recommendations(trained_bundle, out, k=5)
    back = pd.read_csv(out, dtype={"user_id": str, "track_id": str}) if ext == ".csv" else pd.read_parquet(out)
    assert list(back.columns) == ["user_id", "rank", "track_id", "score", "cold_start"]
    assert len(back) == len(df) == 5 * trained_bundle.dataset.n_users
    assert back["user_id"].tolist() == df["user_id"].tolist()
    np.testing.assert_allclose(back["score"].to_numpy(), df["score"].to_numpy())


def test_generate_batch_recommendations_bad_extension(trained_bundle, tmp_path):
    with pytest.raises(DataError, match=r"recs\.xlsx: unsupported output extension '\.xlsx'; use \.csv or \.parquet"):
        generate_batch_recommendations(trained_bundle, tmp_path / "recs.xlsx", k=2)


def test_save_and_load_model(trained_bundle, tmp_path):
    save_model(trained_bundle, tmp_path / "m")
    m = load_model(tmp_path / "m")
    uid = trained_bundle.dataset.users.external_ids[1]
    pd.testing.assert_series_equal(predict_affinity_scores_for_user(m, uid),
                                   predict_affinity_scores_for_user(trained_bundle, uid))
