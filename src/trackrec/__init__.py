"""trackrec: track affinity and next-track recommendations from listening sessions.

The course-style entry points (see :mod:`trackrec.api`) are re-exported here; the stages live
in subpackages named after the data flow: ``data`` -> ``features`` -> ``models`` ->
``evaluation`` -> ``persistence`` -> ``service`` / ``cli``.
"""

__version__ = "0.1.0"

from .api import (  # noqa: E402
    build_track_embeddings,
    build_user_profiles,
    fit,
    generate_batch_recommendations,
    load_model,
    predict_affinity_scores_for_user,
    prepare_training_data,
    recommend_tracks_by_prediction,
    recommend_tracks_by_similarity,
    save_model,
    train_affinity_model,
    write_table,
)
from .exceptions import DataError, ModelFormatError, NotFittedError, TrackrecError, TrainingError  # noqa: E402

__all__ = [
    "__version__", "build_track_embeddings", "build_user_profiles", "prepare_training_data",
    "train_affinity_model", "fit", "save_model", "load_model", "predict_affinity_scores_for_user",
    "recommend_tracks_by_prediction", "recommend_tracks_by_similarity", "generate_batch_recommendations",
    "write_table", "TrackrecError", "DataError", "TrainingError", "NotFittedError", "ModelFormatError",
]
