"""top_k: exact per-row top-k, best first, ties to the lower index, on every kind of row
(distinct scores, massive ties, -inf masks, NaN), through each of its code paths."""

import numpy as np
import pytest

from trackrec.models.base import top_k


def _reference(scores: np.ndarray, k: int) -> np.ndarray:
    cols = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    return np.lexsort((cols, -scores), axis=-1)[:, :k]


def _rows(kind: str, rng: np.random.Generator, n_rows: int = 40, n: int = 5000) -> np.ndarray:
    if kind == "distinct":
        return rng.random((n_rows, n)).astype(np.float32)
    if kind == "mostly-zero":              # popularity / tracks without factors: ties below the top
        s = np.zeros((n_rows, n), np.float32)
        s[:, :300] = rng.random((n_rows, 300))
        return s
    if kind == "few-positive":             # fewer positives than k: the top-k ends in ties
        s = np.zeros((n_rows, n), np.float32)
        s[:, :7] = rng.random((n_rows, 7))
        return s
    if kind == "three-values":             # ties at the k-th value, thousands of them
        return np.floor(rng.random((n_rows, n)) * 3).astype(np.float32)
    if kind == "masked":                   # excluded tracks at -inf
        s = rng.random((n_rows, n)).astype(np.float32)
        s[rng.random(s.shape) < 0.3] = -np.inf
        return s
    if kind == "all-masked":
        return np.full((n_rows, n), -np.inf, np.float32)
    if kind == "float64-small":            # the small-row path
        return np.floor(rng.random((n_rows, 200)) * 4)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["distinct", "mostly-zero", "few-positive", "three-values", "masked",
                                  "all-masked", "float64-small"])
@pytest.mark.parametrize("k", [1, 10, 20])
def test_top_k_matches_a_full_stable_sort(kind, k):
    scores = _rows(kind, np.random.default_rng(k))
    idx, vals = top_k(scores, k)
    ref = _reference(scores, k)
    assert idx.dtype == np.int64 and vals.dtype == scores.dtype
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_array_equal(vals, np.take_along_axis(scores, ref, axis=1))


def test_top_k_mixed_rows_take_different_paths_in_one_block():
    rng = np.random.default_rng(3)
    scores = np.vstack([_rows(kind, rng, n_rows=5) for kind in
                        ("distinct", "few-positive", "mostly-zero", "three-values", "masked")])
    idx, _ = top_k(scores, 10)
    np.testing.assert_array_equal(idx, _reference(scores, 10))


def test_top_k_edges():
    s = np.array([[3.0, 1.0, 2.0]], np.float32)
    idx, vals = top_k(s, 5)                # k above the row length: the whole row, sorted
    assert idx.tolist() == [[0, 2, 1]] and vals.tolist() == [[3.0, 2.0, 1.0]]
    idx, vals = top_k(s, 0)
    assert idx.shape == (1, 0) and vals.shape == (1, 0)
    idx, _ = top_k(np.zeros((0, 5000), np.float32), 10)
    assert idx.shape == (0, 10)


def test_top_k_nan_rows_still_return_k_columns():
    s = np.random.default_rng(0).random((4, 5000)).astype(np.float32)
    s[0, ::3] = np.nan
    idx, vals = top_k(s, 10)
    assert idx.shape == (4, 10)
    np.testing.assert_array_equal(idx[1:], _reference(s[1:], 10))
