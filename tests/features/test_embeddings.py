"""Track embeddings: one-hot / multi-hot labels, scaled numbers, missing values, saved state."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trackrec.exceptions import DataError, NotFittedError
from trackrec.features.embeddings import TrackEncoder, split_labels


@pytest.fixture(scope="module")
def fitted(tiny_catalog):
    return TrackEncoder().fit(tiny_catalog)


def test_split_labels():
    out = split_labels(pd.Series(["Hip Hop, pop", "rock", None, np.nan, " , jazz ,"], dtype=object))
    assert out.tolist() == [["hip hop", "pop"], ["rock"], [], [], ["jazz"]]


def test_feature_names(fitted):
    assert fitted.categorical_ == ["genre", "mood"]
    assert fitted.numeric_ == ["tempo", "energy"]  # title/artist/track_id are never features
    assert fitted.feature_names_ == [
        "genre=classical", "genre=jazz", "genre=pop", "genre=rock",
        "mood=calm", "mood=dark", "mood=energetic", "mood=happy", "mood=romantic", "mood=sad",
        "tempo", "energy"]
    assert fitted.n_features_out_ == 12


def test_one_hot_and_multi_hot(fitted, tiny_catalog):
    x = fitted.transform(tiny_catalog)
    names = fitted.feature_names_
    assert x.shape == (12, 12) and x.dtype == np.float32
    row = dict(zip(names, x[0]))  # "007": rock, energetic
    assert row["genre=rock"] == 1 and row["mood=energetic"] == 1
    assert sum(x[0, :10]) == 2
    row10 = dict(zip(names, x[9]))  # "happy, energetic"
    assert row10["mood=happy"] == 1 and row10["mood=energetic"] == 1 and row10["genre=pop"] == 1
    row12 = dict(zip(names, x[11]))  # "Pop, Rock", no mood: multi-hot genre, all-zero mood
    assert row12["genre=pop"] == 1 and row12["genre=rock"] == 1
    assert x[11, 4:10].sum() == 0


def test_numbers_standardised_and_missing_imputed_with_median(fitted, tiny_catalog):
    x = fitted.transform(tiny_catalog)
    tempo, energy = x[:, 10], x[:, 11]
    np.testing.assert_allclose(tempo.mean(), 0, atol=1e-6)
    np.testing.assert_allclose(tempo.std(), 1, atol=1e-5)
    med_energy = np.nanmedian(tiny_catalog["energy"])
    expected = (med_energy - fitted.means_[1]) / fitted.scales_[1]
    np.testing.assert_allclose(energy[10], expected, rtol=1e-6)  # t11 has no energy
    assert np.isfinite(x).all()


def test_missing_values_never_crash():
    cat = pd.DataFrame({"track_id": ["a", "b", "c"], "genre": [None, None, np.nan],
                        "tempo": [np.nan, np.nan, np.nan], "energy": [0.5, 0.5, 0.5]})
    enc = TrackEncoder().fit(cat)
    x = enc.transform(cat)
    assert enc.categories_ == {"genre": []}
    assert x.shape == (3, 2) and np.isfinite(x).all() and (x == 0).all()  # constant -> 0, no div by 0


def test_unseen_labels_and_missing_columns_at_transform(fitted):
    new = pd.DataFrame({"track_id": ["n1", "n2"], "genre": ["polka", "jazz"]})  # no mood/tempo/energy
    x = fitted.transform(new)
    names = fitted.feature_names_
    assert x[0, :10].sum() == 0
    assert x[1, names.index("genre=jazz")] == 1
    np.testing.assert_allclose(x[:, 10], (fitted.medians_[0] - fitted.means_[0]) / fitted.scales_[0], rtol=1e-6)


def test_non_default_index_is_fine(fitted, tiny_catalog):
    shuffled = tiny_catalog.iloc[::-1].set_index(pd.Index(range(100, 112)))
    np.testing.assert_array_equal(fitted.transform(shuffled), fitted.transform(tiny_catalog)[::-1])


def test_state_round_trip_through_json(fitted, tiny_catalog):
    state = json.loads(json.dumps(fitted.get_state()))
    enc = TrackEncoder.from_state(state)
    assert enc.feature_names_ == fitted.feature_names_
    np.testing.assert_array_equal(enc.transform(tiny_catalog), fitted.transform(tiny_catalog))


def test_numeric_weight(tiny_catalog):
    a = TrackEncoder().fit(tiny_catalog).transform(tiny_catalog)
    b = TrackEncoder(numeric_weight=2.0).fit(tiny_catalog).transform(tiny_catalog)
    np.testing.assert_allclose(b[:, 10:], 2 * a[:, 10:], rtol=1e-6)
    np.testing.assert_array_equal(b[:, :10], a[:, :10])


def test_errors():
    with pytest.raises(NotFittedError, match=r"TrackEncoder is not fitted yet; call fit\(catalog\) first"):
        TrackEncoder().transform(pd.DataFrame({"track_id": ["a"]}))
    with pytest.raises(DataError, match="catalogue has no content features"):
        TrackEncoder().fit(pd.DataFrame({"track_id": ["a"], "title": ["x"]}))
    with pytest.raises(DataError, match="catalogue has no feature column 'bpm'"):
        TrackEncoder(numeric=["bpm"]).fit(pd.DataFrame({"track_id": ["a"], "genre": ["x"]}))
