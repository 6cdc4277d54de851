"""The course-style entry points: thin, documented functions over the library.

They take their data and model explicitly (no hidden globals)::

    catalog, sessions = generate_world()
    X, y = prepare_training_data(sessions, catalog, negatives_per_positive=4, random_state=0)
    clf, metrics = train_affinity_model(X, y)              # accuracy, ROC AUC on a held-out split
    model = fit(sessions, catalog)                         # all strategies, evaluated, refitted
    save_model(model, "my-model"); model = load_model("my-model")
    predict_affinity_scores_for_user(model, "u0001")       # Series: track id -> P(enjoy)
    recommend_tracks_by_prediction(model, "u0001", k=10)   # DataFrame, best first
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .data import schema as S
from .data.dataset import Dataset
from .exceptions import DataError, ModelUnavailableError
from .features.embeddings import TrackEncoder
from .features.pairs import build_pairs
from .features.profiles import user_profiles
from .models.affinity import AffinityLR, fit_logistic
from .models.bundle import ModelBundle
from .persistence.artifact import load_bundle, save_bundle
from .pipeline import DEFAULT_STRATEGIES, train

__all__ = [
    "build_track_embeddings", "build_user_profiles", "prepare_training_data", "train_affinity_model",
    "fit", "save_model", "load_model", "predict_affinity_scores_for_user",
    "recommend_tracks_by_prediction", "recommend_tracks_by_similarity", "generate_batch_recommendations",
    "write_table",
]


def build_track_embeddings(catalog: pd.DataFrame) -> pd.DataFrame:
    """One embedding row per catalogue track (index: track id; columns: feature names)."""
    enc = TrackEncoder().fit(catalog)
    return pd.DataFrame(enc.transform(catalog.reset_index(drop=True)), columns=enc.feature_names_,
                        index=pd.Index(catalog[S.TRACK].astype(str), name=S.TRACK))


def build_user_profiles(sessions: pd.DataFrame, catalog: pd.DataFrame, *,
                        min_ms_played: float = S.DEFAULT_MIN_MS_PLAYED) -> pd.DataFrame:
    """One profile row per user: the play-weighted mean embedding of the tracks they enjoyed."""
    ds = Dataset.from_frames(sessions, catalog, min_ms_played=min_ms_played)
    emb = build_track_embeddings(catalog).reindex(pd.Index(ds.tracks.external_ids)).fillna(0.0)
    prof, _ = user_profiles(ds.positives, emb.to_numpy(np.float32), ds.has_content)
    return pd.DataFrame(prof, columns=emb.columns, index=pd.Index(ds.users.external_ids, name=S.USER))


def prepare_training_data(sessions: pd.DataFrame, catalog: pd.DataFrame, *, negatives_per_positive: int = 4,
                          random_state=0, sampler: str = "uniform", feature_set: str = "bilinear",
                          min_ms_played: float = S.DEFAULT_MIN_MS_PLAYED) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix X (one row per (user, track) pair) and labels y (1 listened, 0 sampled).

    Positives: pairs with a play of at least ``min_ms_played`` ms that was not skipped.
    Negatives: ``negatives_per_positive`` per positive, drawn (``sampler`` = ``"uniform"`` or
    ``"popularity"``, seeded) among catalogue tracks the user never played. Rows combine the user
    profile ``u`` and track embedding ``t`` as ``[u, t, u*t, cos(u,t)]`` (``feature_set="bilinear"``)
    or ``[u, t]`` (``"concat"``).
    """
    ds = Dataset.from_frames(sessions, catalog, min_ms_played=min_ms_played)
    if ds.catalog is None or not ds.has_content.any():
        raise DataError("the catalogue has no tracks in common with the sessions")
    enc = TrackEncoder().fit(ds.catalog[ds.has_content])
    emb = np.zeros((ds.n_tracks, enc.n_features_out_), np.float32)
    emb[ds.has_content] = enc.transform(ds.catalog[ds.has_content].reset_index(drop=True))
    X, y, _, _ = build_pairs(ds.positives, ds.played, emb, ds.has_content,
                             negatives_per_positive=negatives_per_positive, sampler=sampler,
                             feature_set=feature_set, random_state=random_state, popularity=ds.popularity())
    return X, y


def train_affinity_model(X, y, *, test_size: float = 0.2, random_state=0, C: float = 1.0):
    """Logistic regression on (X, y) with a stratified, seeded train/test split.

    Returns ``(model, metrics)`` where ``metrics`` has ``accuracy`` and ``roc_auc`` on the test
    split. With fewer than 10 samples or a single class it trains nothing and raises
    :class:`~trackrec.exceptions.TrainingError` with a message saying why.
    """
    return fit_logistic(X, y, test_size=test_size, random_state=random_state, C=C)


def fit(sessions: pd.DataFrame, catalog: pd.DataFrame | None = None, *,
        strategies: Sequence[str] = DEFAULT_STRATEGIES, refit: bool = True, random_state: int = 0,
        **kwargs) -> ModelBundle:
    """Train every strategy, evaluate on later listens, refit on all data (see :func:`trackrec.pipeline.train`)."""
    return train(sessions, catalog, strategies=strategies, refit=refit, random_state=random_state, **kwargs)


def save_model(model: ModelBundle, path: str | Path) -> Path:
    """Save to a new directory (arrays + JSON manifest with checksums; no pickle)."""
    return save_bundle(model, path)


def load_model(path: str | Path) -> ModelBundle:
    """Load a saved model, refusing corrupted or tampered files."""
    from .persistence.workdir import resolve_model_path
    return load_bundle(resolve_model_path(path, "."))


def _affinity(model) -> AffinityLR:
    if isinstance(model, AffinityLR):
        return model
    if isinstance(model, ModelBundle):
        m = model.model("affinity-lr")
        assert isinstance(m, AffinityLR)
        return m
    raise TypeError(f"expected a trained ModelBundle or AffinityLR, got {type(model).__name__}")


def predict_affinity_scores_for_user(model, user_id: str, track_ids: Iterable[str] | None = None, *,
                                     user_items: dict | None = None) -> pd.Series:
    """P(user enjoys track) in [0, 1] for every catalogue track (or the given ``track_ids``).

    An unknown user gets the model's content prior (no profile); an unknown track id raises
    :class:`~trackrec.exceptions.UnknownTrackError`.
    """
    m = _affinity(model)
    ds = m.dataset_
    _, hist = ds.history_matrix([user_id], user_items)
    proba = m.predict_proba_for_history(hist)[0]
    if track_ids is None:
        idx = np.flatnonzero(ds.has_content)
    else:
        idx = ds.tracks.to_internal(list(track_ids))
        no_content = ~ds.has_content[idx]
        if no_content.any():
            raise ModelUnavailableError(f"track '{ds.tracks.external_ids[idx[no_content][0]]}' has no content "
                                        "features; the affinity model cannot score it")
    return pd.Series(proba[idx], index=pd.Index(ds.tracks.external_ids[idx], name=S.TRACK), name="affinity")


def _recommend_frame(model, strategy: str, user_id: str, k: int, **kw) -> pd.DataFrame:
    bundle = model if isinstance(model, ModelBundle) else None
    m = bundle.model(strategy) if bundle else model
    rec = m.recommend(user_id, k, **kw)
    df = rec.to_frame()
    cat = m.dataset_.catalog
    if cat is not None and len(df):
        cols = [c for c in ("title", "artist", "genre", "mood") if c in cat.columns]
        info = cat.iloc[m.dataset_.tracks.to_internal(df["track_id"])][cols].reset_index(drop=True)
        df = pd.concat([df, info], axis=1)
    return df


def recommend_tracks_by_prediction(model, user_id: str, k: int = 10, exclude_listened: bool = True, *,
                                   user_items: dict | None = None, allow=None, deny=None) -> pd.DataFrame:
    """Top-k tracks by predicted affinity (``affinity-lr``), skipping what the user already heard."""
    return _recommend_frame(model, "affinity-lr", user_id, k, exclude_listened=exclude_listened,
                            user_items=user_items, allow=allow, deny=deny)


def recommend_tracks_by_similarity(model, user_id: str, k: int = 10, exclude_listened: bool = True, *,
                                   user_items: dict | None = None, allow=None, deny=None) -> pd.DataFrame:
    """Top-k tracks by cosine between the user's profile and track embeddings (``similarity``)."""
    return _recommend_frame(model, "similarity", user_id, k, exclude_listened=exclude_listened,
                            user_items=user_items, allow=allow, deny=deny)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write CSV or Parquet, chosen by the extension (``.parquet``/``.pq`` or ``.csv``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"unsupported output extension '{suffix or '(none)'}'; use .csv or .parquet",
                        path=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def generate_batch_recommendations(model: ModelBundle, out: str | Path | None = None, *, k: int = 10,
                                   strategy: str | None = None, exclude_listened: bool = True,
                                   progress=None) -> pd.DataFrame:
    """Top-k for every user, long format ``user_id, rank, track_id, score, cold_start``;
    written to ``out`` (CSV or Parquet by extension) when given."""
    df = model.model(strategy).recommend_all(k, exclude_listened=exclude_listened, progress=progress)
    if out is not None:
        write_table(df, out)
    return df
