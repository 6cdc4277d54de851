"""User profile vectors: a weighted mean of the embeddings of the tracks a user enjoyed."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["history_weights", "user_profiles"]


def history_weights(history: sp.csr_matrix, has_content: np.ndarray | None = None) -> sp.csr_matrix:
    """Per-(user, track) weights: ``log1p(positive plays)``, zero for tracks without content."""
    w = sp.csr_matrix(history, dtype=np.float32, copy=True)
    w.data = np.log1p(w.data)
    if has_content is not None and not has_content.all():
        w = w @ sp.diags(has_content.astype(np.float32))
        w = sp.csr_matrix(w)
        w.eliminate_zeros()
    return w


def user_profiles(history: sp.csr_matrix, embeddings: np.ndarray,
                  has_content: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Profiles (n_users, d) and the total weight per user (0 = no usable history).

    Repeat listens weigh more (log of the play count); a user with no history gets a zero vector.
    """
    w = history_weights(history, has_content)
    total = np.asarray(w.sum(axis=1)).ravel()
    prof = np.asarray(w @ embeddings, dtype=np.float32)
    nz = total > 0
    prof[nz] /= total[nz, None]
    return prof, total
