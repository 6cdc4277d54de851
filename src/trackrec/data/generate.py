"""Seeded generator of a realistic synthetic music world: a catalogue and a listening log.

The world has hidden structure that recommenders can learn:

* **Tracks** belong to artists, and an artist mostly records in one home genre. Genre and mood
  drive the audio features (tempo, energy, valence, danceability, acousticness), and a
  Zipf-like latent popularity makes a few tracks very popular and most of them rare.
* **Users** have a hidden, stationary taste: a Dirichlet preference over genres (most users love
  one to three), a preference over moods and a preferred sound (a point in energy x valence x
  acousticness, near what their genres and moods sound like). A new play picks track
  ``t`` with probability proportional to ``popularity(t) * exp(taste_match(u, t))``, so taste
  dominates within a user's genres while popularity still matters. A small share of plays
  explores popular tracks regardless of taste.
* **Replays**: a share of each user's plays repeats a track they played earlier (picked among
  their past plays, so favourites come back most), giving ~30-50 % repeat plays.
* **Skips** are likelier when the track matches the user's taste poorly (~8 % for a perfect match,
  ~50 % for none). A skipped play lasts 2-29 s, a full play most of the track.
* **Time**: each user's plays fall into listening sessions spread over ``days`` days, at hours
  around the user's favourite hour of day; sessions never overlap, plays within one follow each
  other back to back.

Everything is drawn from one ``numpy.random.default_rng(random_state)``, so the same arguments
give identical frames. Sampling is vectorised: per-user track choice runs on chunks of users with
a bounded ``users x tracks`` block (a few tens of MB), so a million plays take seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["GENRES", "MIN_PLAYS_PER_USER", "MOODS", "generate_world", "write_world"]

#: Minimum number of plays every generated user has.
MIN_PLAYS_PER_USER = 20

GENRES = ("rock", "pop", "hip hop", "electronic", "jazz", "classical", "metal", "folk", "r&b",
          "country", "reggae", "indie")
MOODS = ("happy", "sad", "energetic", "calm", "dark", "romantic", "melancholic")

# Per genre: catalogue share, tempo mean/sd/min/max (BPM), energy, valence, danceability,
# acousticness (typical values in 0-1), probability of explicit lyrics, mean duration (s),
# mean age of an artist's career start (years before 2025).
_GENRE_TABLE = np.array([
    # share  t_mu  t_sd  t_lo  t_hi  energy val   dance acous expl  dur  era
    [0.12, 125, 20, 80, 185, 0.72, 0.50, 0.50, 0.15, 0.08, 240, 22],  # rock
    [0.14, 116, 15, 80, 150, 0.65, 0.66, 0.70, 0.20, 0.12, 205, 8],   # pop
    [0.12, 95, 15, 70, 150, 0.65, 0.50, 0.80, 0.12, 0.55, 215, 9],    # hip hop
    [0.10, 126, 12, 100, 175, 0.80, 0.55, 0.76, 0.05, 0.05, 300, 9],  # electronic
    [0.06, 112, 30, 60, 200, 0.35, 0.55, 0.50, 0.75, 0.01, 330, 30],  # jazz
    [0.05, 95, 25, 60, 160, 0.20, 0.35, 0.25, 0.95, 0.00, 390, 35],   # classical
    [0.06, 145, 25, 90, 200, 0.92, 0.30, 0.40, 0.05, 0.25, 280, 20],  # metal
    [0.06, 105, 20, 70, 150, 0.35, 0.55, 0.45, 0.85, 0.02, 220, 20],  # folk
    [0.08, 95, 15, 65, 130, 0.55, 0.55, 0.72, 0.25, 0.25, 230, 12],   # r&b
    [0.06, 110, 18, 75, 160, 0.58, 0.62, 0.58, 0.55, 0.05, 200, 15],  # country
    [0.06, 85, 12, 65, 120, 0.55, 0.72, 0.78, 0.35, 0.08, 230, 20],   # reggae
    [0.09, 118, 20, 75, 170, 0.55, 0.45, 0.55, 0.45, 0.08, 225, 10],  # indie
])
_GENRE_SHARE = _GENRE_TABLE[:, 0] / _GENRE_TABLE[:, 0].sum()

# P(mood | genre), columns in MOODS order.
_GENRE_MOOD = np.array([
    [0.20, 0.10, 0.30, 0.05, 0.15, 0.10, 0.10],  # rock
    [0.35, 0.10, 0.20, 0.05, 0.02, 0.20, 0.08],  # pop
    [0.15, 0.05, 0.30, 0.05, 0.25, 0.12, 0.08],  # hip hop
    [0.20, 0.03, 0.45, 0.12, 0.12, 0.04, 0.04],  # electronic
    [0.15, 0.10, 0.05, 0.35, 0.05, 0.20, 0.10],  # jazz
    [0.08, 0.15, 0.05, 0.40, 0.07, 0.10, 0.15],  # classical
    [0.03, 0.05, 0.45, 0.01, 0.40, 0.01, 0.05],  # metal
    [0.20, 0.15, 0.05, 0.30, 0.03, 0.12, 0.15],  # folk
    [0.15, 0.12, 0.08, 0.15, 0.05, 0.35, 0.10],  # r&b
    [0.30, 0.15, 0.15, 0.12, 0.02, 0.16, 0.10],  # country
    [0.35, 0.05, 0.12, 0.30, 0.02, 0.12, 0.04],  # reggae
    [0.15, 0.15, 0.12, 0.15, 0.10, 0.10, 0.23],  # indie
])
_GENRE_MOOD = _GENRE_MOOD / _GENRE_MOOD.sum(axis=1, keepdims=True)

# Per mood: shift of the logit of energy, valence, danceability, acousticness; tempo shift (BPM);
# extra probability of explicit lyrics.
_MOOD_SHIFT = np.array([
    [0.3, 1.2, 0.4, 0.0, 8, 0.00],      # happy
    [-0.8, -1.3, -0.5, 0.5, -12, 0.00],  # sad
    [1.2, 0.3, 0.5, -0.6, 15, 0.05],     # energetic
    [-1.2, 0.1, -0.4, 0.8, -15, 0.00],   # calm
    [0.3, -1.2, -0.1, -0.3, 0, 0.15],    # dark
    [-0.4, 0.5, 0.2, 0.3, -8, 0.00],     # romantic
    [-0.6, -0.9, -0.4, 0.4, -10, 0.00],  # melancholic
])

_ADJ = np.array([
    "Midnight", "Golden", "Silver", "Broken", "Electric", "Silent", "Crimson", "Wild", "Lonely",
    "Neon", "Velvet", "Endless", "Hollow", "Burning", "Frozen", "Distant", "Summer", "Winter",
    "Blue", "Scarlet", "Gentle", "Restless", "Hidden", "Sacred", "Fading", "Shining", "Paper",
    "Glass", "Northern", "Southern", "Secret", "Little", "Faded", "Lost", "Bright", "Quiet",
    "Heavy", "Sweet", "Bitter", "Cosmic", "Electric", "Empty", "Wandering", "Falling", "Rising",
], dtype=object)
_NOUN = np.array([
    "Echoes", "Heart", "River", "Lights", "Dreams", "Fire", "Rain", "Road", "Skies", "Shadows",
    "Ocean", "Stars", "City", "Night", "Morning", "Highway", "Garden", "Mirror", "Storm", "Waves",
    "Thunder", "Horizon", "Memories", "Whispers", "Flame", "Moon", "Sun", "Mountain", "Valley",
    "Angels", "Ghosts", "Wires", "Roses", "Bones", "Satellites", "Tides", "Embers", "Letters",
    "Streets", "Hearts", "Winds", "Colors", "Signals", "Horses", "Islands", "Lanterns", "Rivers",
], dtype=object)
_VERB = np.array([
    "Dancing", "Running", "Falling", "Dreaming", "Waiting", "Drifting", "Burning", "Chasing",
    "Singing", "Walking", "Breathing", "Flying", "Calling", "Holding", "Shaking", "Living",
], dtype=object)
_FIRST = np.array([
    "Ava", "Leo", "Mia", "Noah", "Isla", "Eli", "Zoe", "Jude", "Nina", "Owen", "Ruby", "Finn",
    "Lena", "Max", "Ivy", "Theo", "Cleo", "Axel", "Maya", "Otis", "Nora", "Hugo", "Elsa", "Kai",
    "Lola", "Remy", "June", "Milo", "Iris", "Jasper", "Sasha", "Felix", "Lucia", "Marcus", "Ada",
    "Dante", "Greta", "Omar", "Priya", "Rafael", "Selma", "Tobias", "Vera", "Wes", "Yara", "Zane",
    "Bea", "Cyrus", "Dina", "Emil", "Faye", "Gus", "Hana", "Ines", "Joel", "Kira", "Luca", "Mae",
], dtype=object)
_LAST = np.array([
    "Carter", "Reyes", "Monroe", "Vance", "Hayes", "Quinn", "Delgado", "Brooks", "Sterling",
    "Frost", "Navarro", "Holloway", "Blake", "Marlowe", "Okafor", "Lindqvist", "Moreau", "Kato",
    "Silva", "Novak", "Adler", "Bishop", "Castillo", "Dunn", "Ellis", "Fontaine", "Grant", "Hart",
    "Ibarra", "Jensen", "Keller", "Lowe", "Mercer", "Nash", "Ortega", "Pierce", "Rowe", "Shaw",
    "Thorne", "Underwood", "Valdez", "Wilde", "Young", "Zimmer", "Ashford", "Bellamy", "Cruz",
    "Draper", "Everett", "Fischer", "Garza", "Hale", "Ivers", "Jordan", "Kaplan", "Lark",
], dtype=object)
_BAND_SUFFIX = np.array([
    "Collective", "Orchestra", "Quartet", "Project", "Sound System", "Trio", "Club", "Society",
    "Ensemble", "Band", "Brothers", "Sisters", "Experience", "Machine",
], dtype=object)

_MS_PER_DAY = 86_400_000
# Behaviour knobs (tuned so content, collaborative and popularity signals all matter, with
# taste clearly ahead of popularity).
_ZIPF = 1.05           # exponent of the latent track popularity (rank + 3) ** -_ZIPF
_POP_EXPONENT = 0.5    # weight of log-popularity in a taste-driven choice
_GENRE_CONC = 3.0      # Dirichlet concentration of genre tastes (small: 1-3 favourite genres)
_MOOD_CONC = 0.4       # Dirichlet concentration (per mood) of mood tastes
_SOUND_SD = 0.16       # width of the preferred (energy, valence, acousticness) window
_EXPLORE = 0.06        # share of new plays picked by popularity alone
_ACTIVITY_SIGMA = 1.0  # log-normal spread of user activity (long tail of heavy users)
_REPLAY_BETA = (2.0, 30.0)  # Beta prior of a user's explicit replay probability


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pick(rng: np.random.Generator, words: np.ndarray, n: int) -> np.ndarray:
    return words[rng.integers(0, len(words), size=n)]


def _titles(rng: np.random.Generator, n: int) -> np.ndarray:
    """Made-up song titles such as "Midnight Echoes", "Rivers of Summer", "Dancing in the Rain"."""
    adj, noun, noun2, verb = _pick(rng, _ADJ, n), _pick(rng, _NOUN, n), _pick(rng, _NOUN, n), _pick(rng, _VERB, n)
    kind = rng.choice(5, size=n, p=[0.45, 0.15, 0.15, 0.15, 0.10])
    out = adj + " " + noun
    out = np.where(kind == 1, noun + " of " + adj, out)
    out = np.where(kind == 2, verb + " in the " + noun2, out)
    out = np.where(kind == 3, "The " + adj + " " + noun, out)
    out = np.where(kind == 4, noun, out)
    return out


def _artist_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct made-up artist names (people, "The ..." bands, "... Collective" acts)."""
    people = (_FIRST[:, None] + " " + _LAST[None, :]).ravel()
    bands = ("The " + np.unique(_ADJ)[:, None] + " " + np.unique(_NOUN)[None, :]).ravel()
    acts = (np.unique(_NOUN)[:, None] + " " + _BAND_SUFFIX[None, :]).ravel()
    pool = np.concatenate([people, bands, acts])
    if n <= len(pool):
        return pool[rng.choice(len(pool), size=n, replace=False)]
    names = pool[rng.integers(0, len(pool), size=n)]
    return names + " " + np.arange(1, n + 1).astype(str).astype(object)


def _make_catalog(rng: np.random.Generator, n_tracks: int) -> tuple[pd.DataFrame, dict]:
    """Build the catalogue and the hidden per-track truth (genre, mood, sound, popularity)."""
    n_genres, n_moods = len(GENRES), len(MOODS)
    n_artists = max(1, round(n_tracks / 8))

    # Artists: home genre, popularity, career start, size (number of tracks, long-tailed).
    artist_genre = rng.choice(n_genres, size=n_artists, p=_GENRE_SHARE)
    artist_pop = rng.normal(0.0, 1.0, size=n_artists)
    size_w = rng.lognormal(0.0, 0.7, size=n_artists)
    extra = n_tracks - n_artists
    track_artist = np.arange(min(n_artists, n_tracks))
    if extra > 0:
        track_artist = np.concatenate([track_artist, rng.choice(n_artists, size=extra, p=size_w / size_w.sum())])
    track_artist = rng.permutation(track_artist)

    # Genre: the artist's home genre most of the time.
    other = rng.choice(n_genres, size=n_tracks, p=_GENRE_SHARE)
    genre = np.where(rng.random(n_tracks) < 0.88, artist_genre[track_artist], other)

    # Mood given genre (inverse-CDF draw from each row of P(mood | genre)).
    cdf = np.cumsum(_GENRE_MOOD, axis=1)[genre]
    mood = np.minimum((rng.random(n_tracks)[:, None] > cdf).sum(axis=1), n_moods - 1)

    g, m = _GENRE_TABLE[genre], _MOOD_SHIFT[mood]

    def feature(col: int, shift_col: int, sd: float) -> np.ndarray:
        x = _logit(g[:, col]) + m[:, shift_col] + rng.normal(0.0, sd, size=n_tracks)
        return np.round(_sigmoid(x), 3)

    energy = feature(5, 0, 0.45)
    valence = feature(6, 1, 0.5)
    danceability = feature(7, 2, 0.45)
    acousticness = feature(8, 3, 0.5)
    tempo = g[:, 1] + m[:, 4] + 25.0 * (energy - 0.5) + rng.normal(0.0, 1.0, size=n_tracks) * g[:, 2]
    tempo = np.round(np.clip(tempo, g[:, 3], g[:, 4]), 1)
    duration_ms = np.clip(g[:, 10] * 1000.0 * rng.lognormal(-0.02, 0.2, size=n_tracks), 120_000, 420_000)
    duration_ms = duration_ms.astype(np.int64)
    explicit = rng.random(n_tracks) < np.clip(g[:, 9] + m[:, 5], 0.0, 1.0)

    # Albums: each artist has ~1 album per 6-12 tracks; an album has one release year.
    counts = np.bincount(track_artist, minlength=n_artists)
    n_albums = np.maximum(1, np.ceil(counts / rng.uniform(6, 12, size=n_artists))).astype(np.int64)
    album_idx = (rng.random(n_tracks) * n_albums[track_artist]).astype(np.int64)
    album_offset = np.concatenate([[0], np.cumsum(n_albums)[:-1]])
    album_code = album_offset[track_artist] + album_idx
    n_album_total = int(n_albums.sum())
    album_titles = _titles(rng, n_album_total)
    plain = rng.random(n_album_total) < 0.15
    album_titles = np.where(plain, album_titles + np.where(rng.random(n_album_total) < 0.5, " (Deluxe)", " Sessions"),
                            album_titles)
    career_start = 2025.0 - rng.exponential(_GENRE_TABLE[artist_genre, 11])
    album_artist = np.repeat(np.arange(n_artists), n_albums)
    album_k = np.arange(n_album_total) - album_offset[album_artist]
    album_year = career_start[album_artist] + album_k * rng.uniform(1.0, 4.0, size=n_album_total)
    album_year = np.clip(np.floor(album_year), 1970, 2025).astype(np.int64)

    # Latent popularity: Zipf over a ranking driven by artist popularity plus track noise.
    score = artist_pop[track_artist] + rng.normal(0.0, 0.8, size=n_tracks)
    rank = np.empty(n_tracks, dtype=np.int64)
    rank[np.argsort(-score, kind="stable")] = np.arange(n_tracks)
    popularity = (rank + 3.0) ** -_ZIPF
    popularity /= popularity.sum()

    artist_names = _artist_names(rng, n_artists)
    width = max(5, len(str(n_tracks)))
    track_ids = np.array([f"t{i:0{width}d}" for i in range(1, n_tracks + 1)], dtype=object)

    genre_names = np.array(GENRES, dtype=object)
    mood_names = np.array(MOODS, dtype=object)[mood]
    tempo_out = tempo.copy()
    mood_out = mood_names.copy()
    mood_out[rng.random(n_tracks) < 0.01] = None
    tempo_out[rng.random(n_tracks) < 0.01] = np.nan

    catalog = pd.DataFrame({
        "track_id": track_ids,
        "title": _titles(rng, n_tracks),
        "artist": artist_names[track_artist],
        "album": album_titles[album_code],
        "genre": genre_names[genre],
        "mood": mood_out,
        "tempo": tempo_out,
        "energy": energy,
        "valence": valence,
        "danceability": danceability,
        "acousticness": acousticness,
        "duration_ms": duration_ms,
        "explicit": explicit,
        "year": album_year[album_code],
    })
    truth = {"genre": genre, "mood": mood, "sound": np.column_stack([energy, valence, acousticness]),
             "popularity": popularity,
             "duration_ms": duration_ms, "track_ids": track_ids}
    return catalog, truth


def _cell_sound() -> np.ndarray:
    """Typical (energy, valence, acousticness) of each genre x mood cell, shape (12 * 7, 3)."""
    cols = [(5, 0), (6, 1), (8, 3)]
    out = [_sigmoid(_logit(_GENRE_TABLE[:, gc])[:, None] + _MOOD_SHIFT[None, :, mc]).ravel() for gc, mc in cols]
    return np.column_stack(out)


def _plays_per_user(rng: np.random.Generator, n_users: int, n_plays: int) -> np.ndarray:
    """Long-tailed activity summing to ``n_plays``, at least ``MIN_PLAYS_PER_USER`` each."""
    weights = rng.lognormal(0.0, _ACTIVITY_SIGMA, size=n_users)
    extra = n_plays - MIN_PLAYS_PER_USER * n_users
    return MIN_PLAYS_PER_USER + rng.multinomial(extra, weights / weights.sum())


def _sample_taste(rng: np.random.Generator, counts: np.ndarray, log_g: np.ndarray, log_m: np.ndarray,
                  sound_user: np.ndarray, truth: dict, sound_sd: float,
                  max_block: int = 4_000_000) -> np.ndarray:
    """Draw ``counts[u]`` tracks per user from ``p(t|u) ∝ pop(t) * exp(taste_match(u, t))``.

    Users are processed in chunks whose ``users x tracks`` block holds at most ``max_block``
    cells; within a chunk every row's cumulative distribution is shifted by its row number so a
    single ``searchsorted`` serves all users. Returns the drawn track indices, user-major.
    """
    genre, mood, sound = truth["genre"], truth["mood"], truth["sound"]
    log_pop = _POP_EXPONENT * np.log(truth["popularity"])
    n_users, n_tracks = len(counts), len(genre)
    n_moods = log_m.shape[1]
    cell = genre * n_moods + mood                              # (genre, mood) cell of each track
    log_gm = (log_g[:, :, None] + log_m[:, None, :]).reshape(n_users, -1)
    rows_per_chunk = max(1, max_block // n_tracks)
    out = np.empty(int(counts.sum()), dtype=np.int64)
    pos = 0
    inv_two_var = 1.0 / (2.0 * sound_sd ** 2)
    # -|x_t - p_u|^2 / (2 sd^2) = (2 p_u.x_t - |x_t|^2 - |p_u|^2) / (2 sd^2); the last term is per row.
    base = log_pop - inv_two_var * (sound ** 2).sum(axis=1)
    sound_t = (2.0 * inv_two_var) * sound.T
    for lo in range(0, n_users, rows_per_chunk):
        hi = min(n_users, lo + rows_per_chunk)
        c = counts[lo:hi]
        total = int(c.sum())
        if total == 0:
            continue
        rows = hi - lo
        w = np.take(log_gm[lo:hi], cell, axis=1)              # C-contiguous rows x tracks block
        w += sound_user[lo:hi] @ sound_t
        w += base[None, :]
        w -= w.max(axis=1, keepdims=True)
        np.exp(w, out=w)
        np.cumsum(w, axis=1, out=w)
        w /= w[:, -1:]
        w += np.arange(rows, dtype=np.float64)[:, None]
        row = np.repeat(np.arange(rows), c)
        idx = np.searchsorted(w.ravel(), row + rng.random(total), side="right")
        col = np.clip(idx - row * n_tracks, 0, n_tracks - 1)
        out[pos:pos + total] = col
        pos += total
    return out


def generate_world(n_users: int = 600, n_tracks: int = 3000, n_plays: int = 120_000, *, days: int = 120,
                   random_state: int = 0, start: str = "2026-01-01T00:00:00Z") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate a synthetic catalogue and listening log with learnable structure.

    Parameters
    ----------
    n_users, n_tracks, n_plays : int
        Size of the world. ``n_plays`` must be at least ``20 * n_users`` (every user has 20+ plays).
    days : int
        Length of the listening period starting at ``start``.
    random_state : int
        Seed; the same arguments always give identical frames.
    start : str
        ISO 8601 start of the period (naive means UTC).

    Returns
    -------
    catalog : pandas.DataFrame
        One row per track: ``track_id, title, artist, album, genre, mood, tempo, energy, valence,
        danceability, acousticness, duration_ms, explicit, year``; ~1 % of ``mood`` and ``tempo``
        values are missing.
    sessions : pandas.DataFrame
        Exactly ``n_plays`` rows sorted by time: ``user_id, track_id, played_at`` (UTC),
        ``ms_played, skipped``.
    """
    n_users, n_tracks, n_plays, days = int(n_users), int(n_tracks), int(n_plays), int(days)
    if n_users < 1 or n_tracks < 1:
        raise ValueError(f"n_users and n_tracks must be >= 1, got {n_users} and {n_tracks}")
    if n_plays < MIN_PLAYS_PER_USER * n_users:
        raise ValueError(f"n_plays must be >= {MIN_PLAYS_PER_USER} * n_users = {MIN_PLAYS_PER_USER * n_users}, "
                         f"got {n_plays}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")

    rng = np.random.default_rng(random_state)
    catalog, truth = _make_catalog(rng, n_tracks)
    genre, mood = truth["genre"], truth["mood"]
    n_moods = len(MOODS)

    # Hidden tastes.
    gp = rng.dirichlet(_GENRE_CONC * _GENRE_SHARE, size=n_users)
    gp = 0.96 * gp + 0.04 * _GENRE_SHARE
    mp = rng.dirichlet(np.full(n_moods, _MOOD_CONC), size=n_users)
    mp = 0.9 * mp + 0.1 / n_moods
    # Preferred sound (energy, valence, acousticness): the taste-weighted average of the
    # genre x mood cells' typical sound, moved a little by personal preference.
    cell_w = (gp[:, :, None] * mp[:, None, :]).reshape(n_users, -1)
    sound_user = np.clip(cell_w @ _cell_sound() + rng.normal(0.0, 0.08, size=(n_users, 3)), 0.03, 0.97)
    g_rel = gp / gp.max(axis=1, keepdims=True)
    m_rel = mp / mp.max(axis=1, keepdims=True)

    # Activity, replay propensity, skip propensity, favourite hour, session length.
    counts = _plays_per_user(rng, n_users, n_plays)
    replay_p = rng.beta(*_REPLAY_BETA, size=n_users)
    skip_shift = rng.normal(0.0, 0.04, size=n_users)
    peak_hour = (rng.normal(19.0, 3.5, size=n_users)) % 24.0
    sess_len = np.clip(rng.lognormal(np.log(8.0), 0.5, size=n_users), 2.0, 40.0)

    user = np.repeat(np.arange(n_users), counts)              # user-major, time order within user
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(n_plays) - offsets[user]                  # position in the user's history

    # Which plays replay an earlier play (pointing at a uniformly chosen earlier position).
    is_copy = (pos > 0) & (rng.random(n_plays) < replay_p[user])
    src = np.where(is_copy, offsets[user] + (rng.random(n_plays) * pos).astype(np.int64), np.arange(n_plays))
    while True:                                               # pointer jumping to the original fresh play
        nxt = src[src]
        if np.array_equal(nxt, src):
            break
        src = nxt

    # Fresh plays: mostly taste-driven, some popularity-driven exploration.
    fresh = ~is_copy
    explore = fresh & (rng.random(n_plays) < _EXPLORE)
    taste = fresh & ~explore
    track = np.zeros(n_plays, dtype=np.int64)
    taste_counts = np.bincount(user[taste], minlength=n_users)
    track[taste] = _sample_taste(rng, taste_counts, np.log(gp), np.log(mp), sound_user, truth, _SOUND_SD)
    pop_cdf = np.cumsum(truth["popularity"])
    track[explore] = np.minimum(np.searchsorted(pop_cdf, rng.random(int(explore.sum())) * pop_cdf[-1], side="right"),
                                n_tracks - 1)
    track = track[src]

    # Skips and listening time.
    dist2 = ((truth["sound"][track] - sound_user[user]) ** 2).sum(axis=1)
    closeness = np.exp(-0.5 * dist2 / (1.5 * _SOUND_SD) ** 2)
    match = 0.5 * g_rel[user, genre[track]] + 0.25 * m_rel[user, mood[track]] + 0.25 * closeness
    skip_p = np.clip(0.5 - 0.42 * match + skip_shift[user], 0.02, 0.95)
    skipped = rng.random(n_plays) < skip_p
    dur = truth["duration_ms"][track]
    u = rng.random(n_plays)
    frac = rng.uniform(0.6, 1.0, size=n_plays)
    partial = rng.uniform(30_000, dur)
    ms_played = np.where(u < 0.45, dur, np.where(u < 0.9, frac * dur, partial))
    ms_played = np.where(skipped, rng.uniform(2_000, 29_000, size=n_plays), ms_played)
    ms_played = np.floor(ms_played).astype(np.int64)

    # Sessions: contiguous blocks of each user's history, starting at the user's usual hours.
    n_sess = np.maximum(1, np.ceil(counts / sess_len)).astype(np.int64)
    sess_local = np.sort(user * (1 << 32) + (rng.random(n_plays) * n_sess[user]).astype(np.int64)) - user * (1 << 32)
    sess_offsets = np.concatenate([[0], np.cumsum(n_sess)[:-1]])
    sess = sess_offsets[user] + sess_local                    # global session id, non-decreasing
    n_sess_total = int(n_sess.sum())
    sess_user = np.repeat(np.arange(n_users), n_sess)
    hour = (peak_hour[sess_user] + rng.normal(0.0, 2.5, size=n_sess_total)) % 24.0
    sess_start = rng.integers(0, days, size=n_sess_total) * _MS_PER_DAY + (hour * 3_600_000).astype(np.int64)
    big = np.int64(1) << 42                                   # > any time span in ms we handle
    sess_start = np.sort(sess_user * big + sess_start) - sess_user * big

    step = ms_played + rng.integers(1_000, 8_000, size=n_plays)  # play then a short gap
    csum = np.concatenate([[0], np.cumsum(step)])
    first = np.searchsorted(sess, np.arange(n_sess_total), side="left")  # first play of each session
    sess_dur = csum[np.searchsorted(sess, np.arange(n_sess_total), side="right")] - csum[first]
    # Non-overlapping sessions: start'_k = P_k + max_{j<=k}(start_j - P_j), P = prior sessions' length.
    sess_csum = np.cumsum(sess_dur)
    prior = sess_csum - sess_dur - (sess_csum - sess_dur)[sess_offsets][sess_user]
    shifted = np.maximum.accumulate(sess_user * big + (sess_start - prior) + big // 2) - sess_user * big - big // 2
    sess_start = prior + shifted
    t_ms = sess_start[sess] + (csum[:-1] - csum[first[sess]])

    order = np.lexsort((np.arange(n_plays), t_ms))
    width = max(4, len(str(n_users)))
    user_ids = np.array([f"u{i:0{width}d}" for i in range(1, n_users + 1)], dtype=object)
    played_at = pd.DatetimeIndex(t0 + pd.to_timedelta((t_ms[order] // 1000) * 1000, unit="ms"))
    sessions = pd.DataFrame({
        "user_id": user_ids[user[order]],
        "track_id": truth["track_ids"][track[order]],
        "played_at": played_at.as_unit("ns"),
        "ms_played": ms_played[order],
        "skipped": skipped[order],
    })
    return catalog, sessions


def write_world(directory, catalog: pd.DataFrame, sessions: pd.DataFrame, *, fmt: str = "csv") -> tuple[Path, Path]:
    """Write ``catalog`` and ``sessions`` as ``catalog.csv``/``sessions.csv`` or ``.parquet``.

    Parameters
    ----------
    directory : str or pathlib.Path
        Target directory, created if missing.
    catalog, sessions : pandas.DataFrame
        Frames from :func:`generate_world`.
    fmt : {"csv", "parquet"}
        File format. In CSV ``played_at`` is ISO 8601 UTC with a ``Z`` suffix.

    Returns
    -------
    tuple of pathlib.Path
        Paths of the catalogue and sessions files.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cat_path, ses_path = directory / f"catalog.{fmt}", directory / f"sessions.{fmt}"
    if fmt == "parquet":
        catalog.to_parquet(cat_path, index=False)
        sessions.to_parquet(ses_path, index=False)
        return cat_path, ses_path
    catalog.to_csv(cat_path, index=False)
    out = sessions
    if "played_at" in sessions.columns and pd.api.types.is_datetime64_any_dtype(sessions["played_at"]):
        ts = sessions["played_at"]
        if ts.dt.tz is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        text = np.datetime_as_string(ts.to_numpy().astype("datetime64[s]"), unit="s").astype(object) + "Z"
        text[ts.isna().to_numpy()] = ""
        out = sessions.assign(played_at=text)
    out.to_csv(ses_path, index=False)
    return cat_path, ses_path
