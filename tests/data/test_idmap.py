"""IdMap: external string ids <-> dense ints, frozen, strings only."""

from __future__ import annotations

import numpy as np
import pytest

from trackrec.data.idmap import IdMap
from trackrec.exceptions import UnknownTrackError


def test_round_trip_and_order():
    m = IdMap(["b", "a", "007"])
    assert len(m) == 3
    assert m.to_internal(["007", "b"]).tolist() == [2, 0]
    assert m.to_external([1, 2]).tolist() == ["a", "007"]
    assert m.external_ids.tolist() == ["b", "a", "007"]


def test_007_and_7_are_different_ids():
    m = IdMap(["007", "7", "07"])
    assert m.to_internal(["7", "007", "07"]).tolist() == [1, 0, 2]
    assert "7" in m and "007" in m and "0007" not in m
    assert 7 not in m  # an int is not a string id


def test_duplicates_rejected():
    with pytest.raises(ValueError, match="IdMap ids must be unique; '7' appears more than once"):
        IdMap(["7", "8", "7"])


def test_get_indexer_unknown_is_minus_one():
    m = IdMap(["a", "b"])
    assert m.get_indexer(["b", "zz", "a"]).tolist() == [1, -1, 0]
    assert m.get_indexer([]).tolist() == []


def test_to_internal_unknown_raises_naming_the_id():
    m = IdMap(["a", "b"])
    with pytest.raises(UnknownTrackError, match="unknown track id 'zz'"):
        m.to_internal(["a", "zz"])
    with pytest.raises(UnknownTrackError, match="unknown user id 'q'"):
        m.to_internal(["q"], kind="user")
    assert str(UnknownTrackError("unknown track id 'zz'")) == "unknown track id 'zz'"  # no KeyError quoting


def test_from_values_first_appearance():
    m = IdMap.from_values(["c", "a", "c", "b", "a"])
    assert m.external_ids.tolist() == ["c", "a", "b"]


def test_add_keeps_existing_ids():
    m = IdMap(["a", "b"])
    m2 = m.add(["c", "a", "d", "c"])
    assert m2.external_ids.tolist() == ["a", "b", "c", "d"]
    assert m.external_ids.tolist() == ["a", "b"]  # frozen: the original is unchanged
    assert m.add(["a"]) is m


def test_equality():
    assert IdMap(["a", "b"]) == IdMap(np.array(["a", "b"], dtype=object))
    assert IdMap(["a", "b"]) != IdMap(["b", "a"])
