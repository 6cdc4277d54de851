"""Column names and the rules that define the data, in one place."""

from __future__ import annotations

USER = "user_id"
TRACK = "track_id"
PLAYED_AT = "played_at"
MS_PLAYED = "ms_played"
SKIPPED = "skipped"
WEIGHT = "weight"
#: Optional catalogue column: False for tracks known to have no content features.
HAS_CONTENT = "has_content"

SESSION_REQUIRED = (USER, TRACK, PLAYED_AT)
SESSION_OPTIONAL = (MS_PLAYED, SKIPPED, WEIGHT)
CATALOG_REQUIRED = (TRACK,)

#: Catalogue columns that describe a track for people but are not content features.
DESCRIPTIVE_COLUMNS = ("title", "artist", "album", "name", "url", "spotify_track_uri", "uri")
#: Catalogue columns never used as features (ids, free text, leakage such as popularity).
NON_FEATURE_COLUMNS = (TRACK, *DESCRIPTIVE_COLUMNS, "popularity", "explicit", HAS_CONTENT, "top_tags")
#: Categorical content features used when present. Values may hold several labels
#: separated by commas ("hip hop, pop"), which become a multi-hot encoding.
CATEGORICAL_FEATURES = ("genre", "mood")

#: A play counts as a positive ("the user enjoyed it") when at least this long and not skipped.
DEFAULT_MIN_MS_PLAYED = 30_000

MODEL_NAMES = (
    "popularity",
    "similarity",
    "affinity-lr",
    "affinity-lr-concat",
    "ease",
    "ials",
    "affinity-ranker",
)
