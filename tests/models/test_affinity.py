"""The affinity model: personal (the trap test), guarded, probabilistic, fast and faithful to sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from trackrec.exceptions import TrainingError
from trackrec.features.pairs import build_pairs, pair_features
from trackrec.features.profiles import user_profiles
from trackrec.models import make_model
from trackrec.models.affinity import AffinityLR, fit_logistic


@pytest.fixture(scope="module")
def tiny_models(tiny_dataset):
    return {name: make_model(name, random_state=0).fit(tiny_dataset) for name in ("affinity-lr", "affinity-lr-concat")}


# --- THE PERSONALISATION TEST ------------------------------------------------------------------

def test_two_users_get_different_top10_tiny(tiny_models):
    """Same candidates for both (nothing excluded): a rock fan and a jazz fan must differ."""
    lr, concat = tiny_models["affinity-lr"], tiny_models["affinity-lr-concat"]
    rock, jazz = lr.recommend(["007", "7"], k=10, exclude_listened=False)
    assert list(rock.track_ids) != list(jazz.track_ids)
    assert rock.track_ids[0] in {"007", "7", "t03", "t04"}   # a rock track first for the rock fan
    assert jazz.track_ids[0] in {"t05", "t06", "t07", "t08"}  # a jazz track first for the jazz fan
    # the trap: the textbook [u, t] model ranks every track the same for every user
    c_rock, c_jazz = concat.recommend(["007", "7"], k=10, exclude_listened=False)
    assert list(c_rock.track_ids) == list(c_jazz.track_ids)


def test_two_users_get_different_top10_generated(trained_bundle):
    ds = trained_bundle.dataset
    users = list(ds.users.external_ids[:2])
    h0, h1 = (set(trained_bundle.history(u)) for u in users)
    assert h0 != h1
    a, b = trained_bundle.recommend(users, k=10, strategy="affinity-lr", exclude_listened=False)
    assert len(set(a.track_ids) ^ set(b.track_ids)) > 0
    ca, cb = trained_bundle.recommend(users, k=10, strategy="affinity-lr-concat", exclude_listened=False)
    assert list(ca.track_ids) == list(cb.track_ids)


def test_rankings_are_personal_across_all_users(trained_bundle):
    lists = lambda s: {tuple(r.track_ids) for r in trained_bundle.recommend(  # noqa: E731
        list(trained_bundle.dataset.users.external_ids), k=10, strategy=s, exclude_listened=False)}
    assert len(lists("affinity-lr")) > 0.5 * trained_bundle.dataset.n_users
    assert len(lists("affinity-lr-concat")) == 1


# --- guards -------------------------------------------------------------------------------------

def test_fewer_than_10_samples():
    X, y = np.zeros((9, 3)), np.array([0, 1] * 4 + [1])
    with pytest.raises(TrainingError, match=r"^not enough data to train: 9 sample\(s\), need at least 10$"):
        fit_logistic(X, y)


@pytest.mark.parametrize("label, which", [(1, "positive \\(listened\\)"), (0, "negative \\(not listened\\)")])
def test_single_class(label, which):
    with pytest.raises(TrainingError, match=rf"^cannot train: all 20 labels are {label} \({which}\); "
                                            r"need both listened and not-listened pairs$"):
        fit_logistic(np.random.default_rng(0).random((20, 3)), np.full(20, label))


def test_too_few_of_a_class_to_split():
    y = np.array([1] + [0] * 19)
    with pytest.raises(TrainingError, match=r"cannot split 20 samples \(\{0: 19, 1: 1\} per class\) into "
                                            r"stratified train/test sets; need at least 2 of each class"):
        fit_logistic(np.random.default_rng(0).random((20, 3)), y)


def test_shape_mismatch():
    with pytest.raises(TrainingError, match=r"X must be 2-D with one row per label; got X shape \(5, 2\) and 4 labels"):
        fit_logistic(np.zeros((5, 2)), np.zeros(4))


def test_cli_guard_is_one_line_without_traceback(tmp_path):
    from trackrec.cli import app
    (tmp_path / "s.csv").write_text("user_id,track_id,played_at\nu1,a,2026-01-01T00:00:00Z\n", encoding="utf-8")
    (tmp_path / "c.csv").write_text("track_id,genre,tempo\na,rock,120\nb,jazz,90\nc,pop,100\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["train", "--workdir", str(tmp_path / "w"), "--sessions", str(tmp_path / "s.csv"),
                                   "--catalog", str(tmp_path / "c.csv"), "--strategies", "affinity-lr", "--quiet"])
    assert res.exit_code == 1
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == ["error: not enough data to train: 5 sample(s), need at least 10"]


# --- probabilities and the folded fast path -----------------------------------------------------

def test_probabilities_in_unit_interval(tiny_models, trained_bundle):
    lr = tiny_models["affinity-lr"]
    _, hist = lr.dataset_.history_matrix(["007", "7", "nobody"])
    p = lr.predict_proba_for_history(hist)
    assert p.shape == (3, lr.dataset_.n_tracks)
    assert ((p >= 0) & (p <= 1)).all()
    rec = trained_bundle.recommend(list(trained_bundle.dataset.users.external_ids[:20]), k=10)
    s = np.concatenate([r.scores for r in rec])
    assert ((s > 0) & (s < 1)).all()


def test_classification_metrics_recorded(tiny_models):
    m = tiny_models["affinity-lr"].metrics_
    assert {"accuracy", "roc_auc", "n_train_pairs", "n_test_pairs", "positive_rate"} <= set(m)
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["roc_auc"] <= 1


@pytest.mark.parametrize("feature_set", ["bilinear", "concat"])
def test_folded_scoring_equals_sklearn_predict_proba(tiny_dataset, feature_set):
    model = AffinityLR(feature_set=feature_set, random_state=0).fit(tiny_dataset)
    # refit the same scikit-learn pipeline the model was fitted with (same pairs, same seed)
    X, y, _, _ = build_pairs(tiny_dataset.positives, tiny_dataset.played, model.embeddings_, tiny_dataset.has_content,
                             negatives_per_positive=4, feature_set=feature_set, random_state=0,
                             popularity=tiny_dataset.popularity())
    pipe, metrics = fit_logistic(X, y, random_state=0)
    assert metrics == model.metrics_
    users = ["007", "7", "alice", "bob", "carol"]
    _, hist = tiny_dataset.history_matrix(users)
    prof, _ = user_profiles(hist, model.embeddings_, tiny_dataset.has_content)
    content = np.flatnonzero(tiny_dataset.has_content)
    fast = model.predict_proba_for_history(hist)
    for i in range(len(users)):
        feats = pair_features(np.repeat(prof[i:i + 1], len(content), axis=0), model.embeddings_[content], feature_set)
        np.testing.assert_allclose(fast[i, content], pipe.predict_proba(feats)[:, 1], rtol=1e-4, atol=1e-6)


def test_feature_names_match_coefficients(tiny_models):
    lr = tiny_models["affinity-lr"]
    assert len(lr.feature_names()) == len(lr.coef_)
    assert lr.feature_names()[-1] == "cosine(user,track)"


# --- it beats popularity on the generated world --------------------------------------------------

def test_affinity_beats_popularity_and_reports_auc(trained_bundle):
    m = trained_bundle.metrics
    assert m["strategy"] == "affinity-lr"
    ndcg, base = m["models"]["affinity-lr"]["ndcg@10"], m["models"]["popularity"]["ndcg@10"]
    assert base > 0 and ndcg >= 1.2 * base, (ndcg, base)
    assert m["baseline"]["ndcg@10"] == base
    assert m["roc_auc"] > 0.7 and m["models"]["affinity-lr"]["roc_auc"] == m["roc_auc"]
    # the textbook model is not personal and does not beat the baseline by the same margin
    assert m["models"]["affinity-lr-concat"]["ndcg@10"] < ndcg
