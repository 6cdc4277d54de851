"""Ranking metrics, checked against values computed by hand on tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from trackrec.evaluation.metrics import hits_matrix, ranking_metrics


def test(rows, n_items=10):
    m = np.zeros((len(rows), n_items), np.float32)
    for u, items in enumerate(rows):
        m[u, items] = 1
    return sp.csr_matrix(m)


test.__test__ = False  # a helper, not a test
D = [1 / math.log2(i + 2) for i in range(20)]  # discount of rank i (0-based)


def test_hits_matrix_ignores_padding_and_other_users():
    t = test([[9], [0, 3]])
    recs = np.array([[9, -1, 0], [-1, 3, 9]])
    assert hits_matrix(recs, t).tolist() == [[True, False, False], [False, True, False]]
    assert not hits_matrix(recs, test([[], []])).any()


def test_single_user_by_hand():
    # relevant {1, 3}; recommended 1 (hit), 0, 2, 3 (hit)
    m = ranking_metrics(np.array([[1, 0, 2, 3]]), test([[1, 3]], n_items=4))
    ndcg = (D[0] + D[3]) / (D[0] + D[1])
    assert m["ndcg@10"] == pytest.approx(ndcg)
    assert m["recall@20"] == pytest.approx(1.0)
    assert m["map@10"] == pytest.approx((1 / 1 + 2 / 4) / 2)
    assert m["hitrate@10"] == 1.0
    assert m["coverage@10"] == 1.0  # 4 distinct of 4 items
    assert m["users"] == 1


def test_two_users_averaged_and_misses():
    recs = np.array([[5, 6, 7], [2, 0, 1]])
    m = ranking_metrics(recs, test([[0], [0, 1, 4]], n_items=10))
    # user 0: no hit. user 1: hits at ranks 2 and 3 of 3 relevant
    ndcg1 = (D[1] + D[2]) / (D[0] + D[1] + D[2])
    assert m["ndcg@10"] == pytest.approx(ndcg1 / 2)
    assert m["recall@20"] == pytest.approx((0 + 2 / 3) / 2)
    assert m["map@10"] == pytest.approx((0 + (1 / 2 + 2 / 3) / 3) / 2)
    assert m["hitrate@10"] == pytest.approx(0.5)
    assert m["coverage@10"] == pytest.approx(6 / 10)


def test_users_without_test_items_are_ignored():
    recs = np.array([[0, 1], [3, 4]])
    m = ranking_metrics(recs, test([[], [3]], n_items=5))
    assert m["users"] == 1 and m["ndcg@10"] == 1.0 and m["hitrate@10"] == 1.0
    empty = ranking_metrics(recs, test([[], []], n_items=5))
    assert empty["users"] == 0 and math.isnan(empty["ndcg@10"])


def test_cutoffs_at_10_and_20():
    relevant = list(range(30))
    recs = np.arange(100, 130)[None, :].copy()
    recs[0, 10] = 0  # a hit at rank 11: outside @10, inside @20
    m = ranking_metrics(recs, test([relevant], n_items=200))
    assert m["ndcg@10"] == 0 and m["hitrate@10"] == 0 and m["map@10"] == 0
    assert m["recall@20"] == pytest.approx(1 / 20)  # denominator min(|test|, 20)


def test_recall_and_ideal_dcg_with_many_relevant():
    recs = np.arange(10)[None, :]
    m = ranking_metrics(recs, test([list(range(15))], n_items=20))
    assert m["ndcg@10"] == pytest.approx(1.0)  # ideal DCG uses min(|test|, 10)
    assert m["map@10"] == pytest.approx(1.0)
    assert m["recall@20"] == pytest.approx(10 / 15)


def test_padding_never_counts_and_coverage_uses_n_candidates():
    recs = np.array([[2, -1, -1], [-1, -1, -1]])
    m = ranking_metrics(recs, test([[2], [9]], n_items=10), n_candidates=4)
    assert m["hitrate@10"] == 0.5 and m["coverage@10"] == pytest.approx(1 / 4)
