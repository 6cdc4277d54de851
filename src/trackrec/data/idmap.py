"""External string ids <-> dense internal ints, mapped once at the edge."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..exceptions import UnknownTrackError


class IdMap:
    """A frozen bijection between external string ids and ``0..n-1``.

    >>> m = IdMap(["b", "a", "007"])
    >>> m.to_internal(["007", "b"]).tolist()
    [2, 0]
    >>> m.to_external([1]).tolist()
    ['a']
    """

    __slots__ = ("_ids", "_index")

    def __init__(self, ids: Iterable[str]):
        ids = np.asarray(list(ids) if not isinstance(ids, (np.ndarray, pd.Index, pd.Series)) else ids,
                         dtype=object)
        index = pd.Index(ids.astype(str), dtype=object)
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            raise ValueError(f"IdMap ids must be unique; '{dup}' appears more than once")
        self._index = index
        self._ids = index.to_numpy(dtype=object)

    @classmethod
    def from_values(cls, values: Iterable[str]) -> IdMap:
        """Unique values in order of first appearance."""
        return cls(pd.unique(pd.Series(list(values) if not isinstance(values, pd.Series) else values,
                                       dtype=object)))

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, external_id: object) -> bool:
        return external_id in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._index.equals(other._index)

    __hash__ = None  # mutable-looking container semantics; not hashable

    @property
    def external_ids(self) -> np.ndarray:
        """Array of external ids, position = internal id."""
        return self._ids

    def get_indexer(self, external_ids: Iterable[str]) -> np.ndarray:
        """Internal ids, ``-1`` where an id is unknown."""
        return self._index.get_indexer(pd.Index(list(external_ids) if not isinstance(
            external_ids, (np.ndarray, pd.Index, pd.Series)) else external_ids, dtype=object))

    def to_internal(self, external_ids: Iterable[str], *, kind: str = "track") -> np.ndarray:
        """Internal ids; raises :class:`UnknownTrackError` naming the first unknown id."""
        ext = list(external_ids) if not isinstance(external_ids, (np.ndarray, pd.Index, pd.Series)) \
            else external_ids
        idx = self.get_indexer(ext)
        if (idx < 0).any():
            bad = np.asarray(ext, dtype=object)[idx < 0][0]
            raise UnknownTrackError(f"unknown {kind} id '{bad}'")
        return idx

    def to_external(self, internal_ids: Iterable[int]) -> np.ndarray:
        return self._ids[np.asarray(internal_ids, dtype=np.int64)]

    def add(self, external_ids: Iterable[str]) -> IdMap:
        """A new map with unseen ids appended (existing ids keep their internal id)."""
        new = [i for i in pd.unique(pd.Series(list(external_ids), dtype=object)) if i not in self._index]
        return IdMap(np.concatenate([self._ids, np.asarray(new, dtype=object)])) if new else self
