"""One contract, every model: each entry of ``trackrec.models.MODELS`` is fitted on the tiny world
and must answer ``recommend`` the same way (shapes, k, order, filters, cold start, current
histories, batch = single, long-format batch output, same seed -> same result, save/load).

Models registered later are picked up automatically.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trackrec.data.dataset import Dataset
from trackrec.exceptions import ModelUnavailableError, NotFittedError, TrainingError, UnknownTrackError
from trackrec.models import MODELS, make_model
from trackrec.models.bundle import ModelBundle
from trackrec.persistence import load_bundle, save_bundle

NAMES = sorted(MODELS)
NON_PERSONAL = {"popularity"}
#: Parameters some models need to learn anything from twenty-odd plays (defaults suit real data).
_SMALL_ALS = {"factors": 8, "iterations": 5}
TINY_PARAMS = {"ials": _SMALL_ALS,
               "affinity-ranker": {"val_fraction": 0.5, "generator_params": {"ials": _SMALL_ALS}}}
USERS = ["007", "7", "alice", "bob", "carol"]


def fit_model(name: str, dataset: Dataset, seed: int = 0):
    model = make_model(name, **TINY_PARAMS.get(name, {}))
    if "random_state" in model.get_params():
        model.set_params(random_state=seed)
    return model.fit(dataset)


@pytest.fixture(scope="module", params=NAMES)
def model(request, tiny_dataset):
    try:
        return fit_model(request.param, tiny_dataset)
    except TrainingError as exc:  # a model that needs more data: say so, add it to TINY_PARAMS
        pytest.skip(f"{request.param} cannot fit on the tiny fixture: {exc}")


def history(ds: Dataset, user: str) -> set[str]:
    i = ds.users.to_internal([user])[0]
    return set(ds.tracks.external_ids[ds.positives[i].indices])


def candidates(model) -> np.ndarray:
    return model.dataset_.tracks.external_ids[model.candidate_mask()]


class TestRecommenderContract:
    def test_name_matches_registry(self, model):
        assert MODELS[model.name] is type(model)

    def test_shape_and_types(self, model):
        rec = model.recommend("alice", k=3)
        assert rec.user_id == "alice"
        assert len(rec.track_ids) == len(rec.scores) == 3
        assert all(isinstance(t, str) for t in rec.track_ids)
        assert rec.scores.dtype == np.float64 and np.isfinite(rec.scores).all()
        assert isinstance(rec.cold_start, bool) and not rec.cold_start
        assert len(set(rec.track_ids)) == 3
        assert set(rec.track_ids) <= set(candidates(model))

    @pytest.mark.parametrize("k", [1, 2, 5])
    def test_k_respected(self, model, k):
        assert len(model.recommend("bob", k=k).track_ids) == k

    def test_k_larger_than_catalogue_returns_what_is_left(self, model):
        rec = model.recommend("alice", k=1000)
        left = set(candidates(model)) - history(model.dataset_, "alice")
        assert set(rec.track_ids) == left

    def test_bad_k(self, model):
        with pytest.raises(ValueError, match=r"k must be a positive integer, got 0"):
            model.recommend("alice", k=0)

    @pytest.mark.parametrize("user", ["007", "7", "carol", "nobody"])
    def test_scores_sorted_descending(self, model, user):
        rec = model.recommend(user, k=8)
        assert (np.diff(rec.scores) <= 0).all()

    @pytest.mark.parametrize("user", USERS)
    def test_exclude_listened(self, model, user):
        heard = history(model.dataset_, user)
        rec = model.recommend(user, k=20)
        assert not heard & set(rec.track_ids)
        everything = model.recommend(user, k=20, exclude_listened=False)
        assert (heard & set(candidates(model))) <= set(everything.track_ids)

    def test_allow(self, model):
        allow = ["t05", "t06", "007", "t11"]
        rec = model.recommend("alice", k=10, allow=allow)
        assert set(rec.track_ids) == {"t05", "t06", "t11"}  # alice heard "007"

    def test_deny(self, model):
        top = model.recommend("bob", k=3)
        rec = model.recommend("bob", k=3, deny=[top.track_ids[0]])
        assert top.track_ids[0] not in rec.track_ids
        np.testing.assert_allclose(rec.scores[:2], top.scores[1:], rtol=1e-6)  # the rest moves up

    @pytest.mark.parametrize("which", ["allow", "deny"])
    def test_unknown_filter_id_is_an_error(self, model, which):
        with pytest.raises(UnknownTrackError, match="unknown track id 'no-such-track'"):
            model.recommend("alice", k=3, **{which: ["t05", "no-such-track"]})

    @pytest.mark.parametrize("user", ["nobody", "dave"])  # unknown; known but no positive play
    def test_cold_start_gets_popular_tracks(self, model, user):
        rec = model.recommend(user, k=4)
        assert rec.cold_start is True
        ds = model.dataset_
        pop = ds.popularity()[ds.tracks.to_internal(rec.track_ids)]
        best = ds.popularity()[model.candidate_mask()].max()
        assert pop[0] == best and (np.diff(pop) <= 0).all()
        np.testing.assert_allclose(rec.scores, pop / ds.popularity().max())

    def test_known_users_are_not_cold(self, model):
        assert not any(r.cold_start for r in model.recommend(USERS, k=2))

    def test_user_items_replaces_history(self, model):
        if model.name in NON_PERSONAL:
            pytest.skip("not a personal model")
        before = model.recommend("007", k=5)
        jazz = ["t05", "t06", "t07", "t08"]
        after = model.recommend("007", k=5, user_items={"007": jazz})
        assert list(after.track_ids) != list(before.track_ids)
        assert not set(jazz) & set(after.track_ids)  # the current history is what is excluded
        other = model.recommend("alice", k=5, user_items={"007": jazz})
        assert list(other.track_ids) == list(model.recommend("alice", k=5).track_ids)

    def test_new_user_in_user_items_is_not_cold(self, model):
        if model.name in NON_PERSONAL:
            pytest.skip("not a personal model")
        rec = model.recommend("zed", k=3, user_items={"zed": ["t05", "t06", "t07"]})
        assert rec.cold_start is False
        assert not {"t05", "t06", "t07"} & set(rec.track_ids)
        cold = model.recommend("zed", k=3)
        assert cold.cold_start is True

    def test_batch_equals_single(self, model):
        users = USERS + ["nobody", "dave"]
        batch = model.recommend(users, k=5)
        assert isinstance(batch, list) and [r.user_id for r in batch] == users
        for rec in batch:
            single = model.recommend(rec.user_id, k=5)
            assert list(rec.track_ids) == list(single.track_ids)
            np.testing.assert_allclose(rec.scores, single.scores, rtol=1e-4, atol=1e-7)
            assert rec.cold_start == single.cold_start

    def test_batch_in_small_chunks_equals_one_chunk(self, model):
        a = model.recommend(USERS, k=4)
        b = model.recommend(USERS, k=4, chunk_size=2)
        assert [list(r.track_ids) for r in a] == [list(r.track_ids) for r in b]

    def test_recommend_all_long_format(self, model):
        df = model.recommend_all(k=3)
        assert list(df.columns) == ["user_id", "rank", "track_id", "score", "cold_start"]
        ds = model.dataset_
        assert df["user_id"].unique().tolist() == ds.users.external_ids.tolist()
        assert (df.groupby("user_id", sort=False)["rank"].apply(list) == pd.Series([[1, 2, 3]] * ds.n_users,
                index=pd.Index(ds.users.external_ids, name="user_id"))).all()
        for uid in ["007", "dave"]:
            rec = model.recommend(uid, k=3)
            part = df[df["user_id"] == uid]
            assert part["track_id"].tolist() == list(rec.track_ids)
            np.testing.assert_allclose(part["score"].to_numpy(), rec.scores, rtol=1e-4, atol=1e-7)
            assert part["cold_start"].tolist() == [rec.cold_start] * 3
        assert df.loc[df["user_id"] == "dave", "cold_start"].all()

    def test_refit_same_seed_same_result(self, model, tiny_dataset):
        again = fit_model(model.name, tiny_dataset)
        pd.testing.assert_frame_equal(again.recommend_all(k=5), model.recommend_all(k=5))

    def test_save_load_round_trip(self, model, tmp_path):
        bundle = ModelBundle(dataset=model.dataset_, models={model.name: model}, default_strategy=model.name)
        loaded = load_bundle(save_bundle(bundle, tmp_path / "m")).model(model.name)
        assert type(loaded) is type(model)
        pd.testing.assert_frame_equal(loaded.recommend_all(k=6), model.recommend_all(k=6), check_exact=True)
        a = loaded.recommend("zed", k=4, user_items={"zed": ["t09", "7"]}, deny=["t10"])
        b = model.recommend("zed", k=4, user_items={"zed": ["t09", "7"]}, deny=["t10"])
        assert list(a.track_ids) == list(b.track_ids) and np.array_equal(a.scores, b.scores)


@pytest.mark.parametrize("name", NAMES)
def test_not_fitted(name):
    with pytest.raises(NotFittedError, match=r"is not fitted yet; call fit\(dataset\) first"):
        make_model(name).recommend("alice")


@pytest.mark.parametrize("name", NAMES)
def test_without_catalogue_only_content_models_refuse(name, tiny_sessions_shared):
    ds = Dataset.from_frames(tiny_sessions_shared)  # no catalogue
    model = make_model(name, **TINY_PARAMS.get(name, {}))
    if getattr(model, "needs_content", False):
        with pytest.raises(ModelUnavailableError, match=rf"model '{name}' needs a track catalogue"):
            model.fit(ds)
        return
    try:
        model.fit(ds)
    except ModelUnavailableError as exc:  # e.g. a ranker whose generators need content
        pytest.skip(f"{name} needs a catalogue: {exc}")
    rec = model.recommend("alice", k=3)
    assert len(rec.track_ids) == 3 and not history(ds, "alice") & set(rec.track_ids)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'nope'; expected one of: popularity"):
        make_model("nope")
