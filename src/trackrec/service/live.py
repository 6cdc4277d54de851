"""Live recommendations: the loaded model plus the store's current catalogue and histories.

:class:`LiveModel` is an immutable snapshot built from one :class:`~trackrec.models.bundle.ModelBundle`
and the store's catalogue. Its *universe* is the model's tracks followed by catalogue tracks added
after training ("new tracks"). New tracks are embedded with the model's own
:class:`~trackrec.features.embeddings.TrackEncoder` and scored by the content strategies with the
same math the models use (``affinity-lr*``: the folded logistic weights; ``similarity``: cosine),
so they are recommendable at once, without retraining. Collaborative strategies (``popularity``,
``ease``, ``ials``, ...) cannot score tracks nobody has played in training and leave them out.

A user's profile is computed per request from the history passed in (the store's current plays),
including plays of new tracks, so a listen changes the next answer immediately; users the model
has never seen work from their first listen.

:class:`ModelHolder` owns the current snapshot. Swaps (a new model version, new tracks) build the
new snapshot completely and then replace one reference, so a request that started on one snapshot
finishes on it: no mixed answers during a reload.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data import schema as S
from ..exceptions import ModelFormatError, ModelUnavailableError, UnknownTrackError
from ..features.profiles import user_profiles
from ..models.affinity import AffinityLR
from ..models.bundle import ModelBundle
from ..models.content import ContentRecommender, SimilarityRecommender, _normalise
from ..persistence.artifact import load_bundle
from ..persistence.workdir import Workdir
from .store import Store

log = logging.getLogger(__name__)

__all__ = ["LiveModel", "ModelHolder", "LiveRecommendation", "History"]

NUMERIC_SUMMARY = ("tempo", "energy", "valence", "danceability", "acousticness")
TRACK_FIELDS = ("track_id", "title", "artist", "album", "genre", "mood", "explicit", "duration_ms")


def _plain(v):
    """A JSON-friendly scalar (NaN -> None, numpy scalars -> Python)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if v != v else float(v)
    return v


@dataclass(frozen=True)
class History:
    """A user's current plays from the store."""

    played: list[str]             # every play, oldest first (for "exclude listened")
    positive: np.ndarray          # which plays count as enjoyed, as the models define it
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def positives(self) -> list[str]:
        """Enjoyed plays (repeats count)."""
        return [t for t, p in zip(self.played, self.positive) if p]

    @classmethod
    def from_plays(cls, tracks, ms_played, skipped, weights=None, *,
                   min_ms_played: float = S.DEFAULT_MIN_MS_PLAYED) -> History:
        pos = np.fromiter((not s and (m is None or (m == m and m >= min_ms_played))
                           for m, s in zip(ms_played, skipped)), dtype=bool, count=len(tracks))
        return cls(played=list(tracks), positive=pos)

    @classmethod
    def of(cls, positives, other_plays=()) -> History:
        """From track ids: enjoyed plays, and plays that did not count (skips)."""
        pos, other = list(positives), list(other_plays)
        return cls(played=pos + other, positive=np.arange(len(pos) + len(other)) < len(pos))


@dataclass
class LiveRecommendation:
    user_id: str
    strategy: str
    track_idx: np.ndarray         # universe indices, best first
    scores: np.ndarray            # reported scores (probabilities for affinity-lr*)
    cold_start: bool
    reasons: list[str] = field(default_factory=list)
    probability: bool = False


@dataclass
class _ContentState:
    """Per content model: embeddings over the whole universe, and what scoring needs."""

    emb: np.ndarray               # (n_universe, d)
    unit: np.ndarray              # normalised rows
    M: np.ndarray | None = None   # affinity: (2d, n_universe)


class LiveModel:
    """One model version + the catalogue as of ``catalog_seq``; immutable once built."""

    def __init__(self, bundle: ModelBundle, version: str, store_rows: list[dict], catalog_seq: int,
                 loaded_at: float | None = None):
        self.bundle = bundle
        self.version = version
        self.catalog_seq = catalog_seq
        self.loaded_at = loaded_at or time.time()
        ds = bundle.dataset
        self.n_model_tracks = ds.n_tracks
        known = set(ds.tracks.external_ids.tolist())
        new_rows = [r for r in store_rows if r[S.TRACK] not in known]
        ids = np.concatenate([ds.tracks.external_ids, np.asarray([r[S.TRACK] for r in new_rows], dtype=object)])
        self.track_ids = ids.astype(object)
        self.index = {t: i for i, t in enumerate(self.track_ids.tolist())}
        # Catalogue metadata over the universe: the store's rows are the truth for metadata.
        by_id = {r[S.TRACK]: r for r in store_rows}
        cat = pd.DataFrame([by_id.get(t, {S.TRACK: t}) for t in self.track_ids])
        for c in ("title", "artist", "genre", "mood"):
            if c not in cat:
                cat[c] = None
        self.catalog = cat
        self.in_store = np.asarray([t in by_id for t in self.track_ids], dtype=bool)
        self.explicit = cat["explicit"].fillna(False).astype(bool).to_numpy() if "explicit" in cat \
            else np.zeros(len(ids), bool)
        self.artist_codes, self.artists = pd.factorize(cat["artist"].astype(object).where(cat["artist"].notna(), ""))
        self.artist_index = {a: i for i, a in enumerate(list(self.artists))}
        n_new = len(new_rows)
        self.new_track_ids = ids[self.n_model_tracks:]
        new_df = pd.DataFrame(new_rows).reset_index(drop=True) if n_new else None
        self.has_content = np.concatenate([ds.has_content, np.ones(n_new, bool)])
        pop = ds.popularity().astype(np.float32)
        pop = pop / pop.max() if pop.max() > 0 else pop
        self.popular = np.concatenate([pop, np.zeros(n_new, np.float32)])
        self.content: dict[str, _ContentState] = {}
        for name, model in bundle.models.items():
            if isinstance(model, ContentRecommender):
                emb = model.embeddings_
                if n_new:
                    emb = np.vstack([emb, model.encoder_.transform(new_df).astype(np.float32)])
                st = _ContentState(emb=np.ascontiguousarray(emb), unit=_normalise(emb))
                if isinstance(model, AffinityLR):
                    # the model's own per-track matrix, built by its own code over the universe
                    twin = copy.copy(model)
                    twin.embeddings_ = st.emb
                    twin._prepare()
                    st.M = twin._M
                self.content[name] = st
        # a content view for profiles/reasons/similar tracks whatever the strategy
        self.reference = next((n for n in ("similarity", "affinity-lr") if n in self.content),
                              next(iter(self.content), None))
        self.text = {c: cat[c].to_numpy(dtype=object) for c in ("title", "artist", "genre", "mood")}
        fields = [c for c in TRACK_FIELDS if c in cat.columns]
        self.records = [{k: _plain(v) for k, v in zip(fields, row)}
                        for row in cat[fields].itertuples(index=False, name=None)]
        self.numeric = {c: pd.to_numeric(cat[c], errors="coerce").to_numpy(dtype=float)
                        for c in NUMERIC_SUMMARY if c in cat}

    # --- helpers ---------------------------------------------------------------------------
    @property
    def strategies(self) -> list[str]:
        return self.bundle.strategies

    def universe_idx(self, track_ids, *, strict: bool = False, what: str = "track") -> np.ndarray:
        get = self.index.get
        ids = list(track_ids)
        idx = np.fromiter((get(t, -1) for t in ids), dtype=np.int64, count=len(ids))
        if strict and (idx < 0).any():
            bad = ids[int(np.flatnonzero(idx < 0)[0])]
            raise UnknownTrackError(f"{what}: unknown track '{bad}'")
        return idx

    def history_idx(self, history: History) -> tuple[np.ndarray, np.ndarray]:
        """(universe index of every play, of every enjoyed play); ``-1`` for unknown tracks.
        Mapped once per request and snapshot."""
        key = id(self)
        got = history._cache.get(key)
        if got is None:
            idx = self.universe_idx(history.played)
            got = history._cache[key] = (idx, idx[history.positive])
        return got

    def _profile(self, name: str, hist_idx: np.ndarray) -> tuple[np.ndarray, float]:
        """The model's own profile (:func:`trackrec.features.profiles.user_profiles`) over the
        universe, new catalogue tracks included."""
        h = hist_idx[hist_idx >= 0]
        row = sp.csr_matrix((np.ones(len(h), np.float32), (np.zeros(len(h), np.int64), h)),
                            shape=(1, len(self.track_ids)))
        row.sum_duplicates()
        prof, total = user_profiles(row, self.content[name].emb, self.has_content)
        return prof[0], float(total[0])

    def profile(self, history: History, strategy: str | None = None) -> tuple[np.ndarray, float, list[str]]:
        """(profile vector, total weight, feature names) in the embedding space of a content model."""
        name = strategy if strategy in self.content else self.reference
        if name is None:
            raise ModelUnavailableError("this model has no content strategy, so no taste profile")
        vec, total = self._profile(name, self.history_idx(history)[1])
        return vec, total, list(self.bundle.models[name].encoder_.feature_names_)

    def scores(self, strategy: str, history: History, user_id: str) -> tuple[np.ndarray, bool, np.ndarray]:
        """Raw ranking scores over the universe, cold-start flag, candidate mask."""
        model = self.bundle.model(strategy)
        n = len(self.track_ids)
        if strategy in self.content and isinstance(model, (AffinityLR, SimilarityRecommender)):
            st = self.content[strategy]
            prof, total = self._profile(strategy, self.history_idx(history)[1])
            if total <= 0:
                return self.popular.copy(), True, self.has_content.copy()
            if isinstance(model, AffinityLR):
                s = (model._user_weights(prof[None, :]) @ st.M)[0]
            else:
                s = st.unit @ _normalise(prof[None, :])[0]
            return s, False, self.has_content.copy()
        # Any other strategy: the model's own scoring over its tracks; new tracks are not scorable.
        uidx, hist = self.bundle.dataset.history_matrix([user_id], {user_id: history.positives})
        raw, cold = model.score_block(uidx, hist)
        s = np.full(n, -np.inf, np.float32)
        s[:self.n_model_tracks] = raw[0]
        cand = np.zeros(n, bool)
        cand[:self.n_model_tracks] = model.candidate_mask()
        return s, bool(cold[0]), cand

    def recommend(self, user_id: str, history: History, *, strategy: str | None = None, k: int = 10,
                  exclude_listened: bool = True, allow=None, deny=None, blocked_tracks=(),
                  blocked_artists=(), allow_explicit: bool = True, max_per_artist: int | None = None,
                  with_reasons: bool = True) -> LiveRecommendation:
        strategy = strategy or self.bundle.default_strategy
        model = self.bundle.model(strategy)
        scores, cold, mask = self.scores(strategy, history, user_id)
        mask &= self.in_store  # only tracks the catalogue (store) knows can be played
        if allow is not None:
            a = np.zeros_like(mask)
            a[self.universe_idx(allow, strict=True, what="allow")] = True
            mask &= a
        if deny is not None:
            mask[self.universe_idx(deny, strict=True, what="deny")] = False
        if blocked_tracks:
            b = self.universe_idx(blocked_tracks)
            mask[b[b >= 0]] = False
        if blocked_artists:
            codes = np.asarray([self.artist_index[a] for a in blocked_artists if a in self.artist_index], np.int64)
            if len(codes):
                mask &= ~np.isin(self.artist_codes, codes)
        if not allow_explicit:
            mask &= ~self.explicit
        if exclude_listened and history.played:
            p = self.history_idx(history)[0]
            mask[p[p >= 0]] = False
        scores = np.where(mask, scores, -np.inf)
        idx = _top_k_capped(scores, k, self.artist_codes if max_per_artist else None, max_per_artist)
        raw = scores[idx]
        out = np.asarray(model._output_scores(raw), dtype=float) if len(idx) else np.zeros(0)
        rec = LiveRecommendation(user_id, strategy, idx, out, cold,
                                 probability=isinstance(model, AffinityLR))
        if with_reasons:
            rec.reasons = self.reasons(idx, history, cold=cold, strategy=strategy)
        return rec

    # --- explanations -----------------------------------------------------------------------
    def describe(self, i: int) -> str:
        parts = [v for v in (self.text["mood"][i], self.text["genre"][i]) if isinstance(v, str) and v]
        return " ".join(parts) if parts else "a track"

    def reasons(self, idx: np.ndarray, history: History, *, cold: bool, strategy: str) -> list[str]:
        if len(idx) == 0:
            return []
        if cold or strategy == "popularity":
            why = "popular with listeners while we learn your taste" if cold else "popular with listeners"
            return [f"{self.describe(i)}, {why}" for i in idx]
        h = self.history_idx(history)[1]
        h = np.unique(h[h >= 0])
        if self.reference is None or len(h) == 0:
            return [f"{self.describe(i)} for you" for i in idx]
        unit = self.content[self.reference].unit
        h = h[self.has_content[h]]
        if len(h) == 0:
            return [f"{self.describe(i)}, liked by listeners like you" for i in idx]
        sim = unit[idx] @ unit[h].T
        best = h[np.argmax(sim, axis=1)]
        out = []
        for i, j in zip(idx, best):
            title = self.text["title"][j]
            like = f"“{title}”" if isinstance(title, str) and title else str(self.track_ids[j])
            out.append(f"{self.describe(i)} like {like} you played")
        return out

    def similar_tracks(self, track_id: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        if self.reference is None:
            raise ModelUnavailableError("this model has no content strategy to find similar tracks")
        i = self.universe_idx([track_id], strict=True, what="track_id")[0]
        unit = self.content[self.reference].unit
        if not self.has_content[i]:
            raise ModelUnavailableError(f"track '{track_id}' has no catalogue features to compare")
        s = unit @ unit[i]
        s[~(self.has_content & self.in_store)] = -np.inf
        s[i] = -np.inf
        idx = _top_k_capped(s, k, None, None)
        return idx, s[idx].astype(float)

    def taste_summary(self, history: History, top: int = 3) -> dict:
        """Readable profile: top genres and moods (weighted shares), mean tempo/energy/..."""
        h = self.history_idx(history)[1]
        h = h[h >= 0]
        if len(h) == 0:
            return {"plays": 0, "top_genres": [], "top_moods": [], "means": {}}
        t, cnt = np.unique(h, return_counts=True)
        w = np.log1p(cnt.astype(float))
        out: dict = {"plays": int(len(h)), "distinct_tracks": int(len(t))}
        for col, key in (("genre", "top_genres"), ("mood", "top_moods")):
            vals = self.text[col][t]
            shares: dict[str, float] = {}
            for v, wi in zip(vals, w):
                if isinstance(v, str) and v:
                    for lab in (p.strip().lower() for p in v.split(",") if p.strip()):
                        shares[lab] = shares.get(lab, 0.0) + float(wi)
            tot = sum(shares.values()) or 1.0
            out[key] = [{"label": k_, "share": round(v_ / tot, 4)}
                        for k_, v_ in sorted(shares.items(), key=lambda kv: -kv[1])[:top]]
        means = {}
        for col, arr in self.numeric.items():
            x = arr[t]
            ok = ~np.isnan(x)
            if ok.any():
                means[col] = round(float(np.average(x[ok], weights=w[ok])), 4)
        out["means"] = means
        return out


def _top_k_capped(scores: np.ndarray, k: int, artist_codes: np.ndarray | None,
                  cap: int | None) -> np.ndarray:
    """Indices of the best ``k`` finite scores, best first, at most ``cap`` per artist."""
    finite = int(np.isfinite(scores).sum())
    if finite == 0 or k <= 0:
        return np.zeros(0, np.int64)
    want = min(finite, k if artist_codes is None else max(k * 4, k + 50))
    while True:
        if want < len(scores):
            part = np.argpartition(-scores, want - 1)[:want]
        else:
            part = np.arange(len(scores))
        order = part[np.argsort(-scores[part], kind="stable")]
        order = order[np.isfinite(scores[order])]
        if artist_codes is None:
            return order[:k].astype(np.int64)
        taken, per = [], {}
        for i in order:
            a = artist_codes[i]
            if per.get(a, 0) < cap:
                per[a] = per.get(a, 0) + 1
                taken.append(i)
                if len(taken) == k:
                    break
        if len(taken) == k or want >= finite:
            return np.asarray(taken, dtype=np.int64)
        want = min(finite, want * 4)


class ModelHolder:
    """The current :class:`LiveModel` of this process, with reload and catalogue refresh.

    Readers take ``holder.current`` once per request. ``check()`` (called per request, cheap:
    one ``stat`` of ``models/CURRENT`` and one indexed ``max(rowid)`` in the store) notices a new
    CURRENT written by ``trackrec train``/another worker's rollback and new catalogue tracks; the
    new snapshot is built fully before the single reference is replaced.
    """

    def __init__(self, workdir: str | Path, store: Store):
        self.workdir = Workdir(workdir)
        self.store = store
        self._lock = threading.Lock()
        self.current: LiveModel | None = None
        self._current_stat: tuple | None = None
        self.reloads = 0
        self.last_error: str | None = None

    def _pointer_stat(self):
        try:
            st = (self.workdir.models_dir / "CURRENT").stat()
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            return None

    def load(self, *, force: bool = False) -> LiveModel:
        """Load models/CURRENT (if it changed or ``force``) and the catalogue; swap in."""
        with self._lock:
            stat = self._pointer_stat()
            version = self.workdir.current_version()
            if version is None:
                raise ModelFormatError(f"no trained model in {self.workdir.root} (models/CURRENT is missing); "
                                       f"run 'trackrec init' or 'trackrec train' first")
            cur = self.current
            if cur is not None and cur.version == version and not force:
                self._current_stat = stat
                return cur
            bundle = load_bundle(self.workdir.models_dir / version)
            seq, rows = self.store.tracks_since(0)
            live = LiveModel(bundle, version, rows, seq)
            self.current = live
            self._current_stat = stat
            self.reloads += 1
            log.info("model version %s loaded (%d tracks, %d new since training)", version,
                     len(live.track_ids), len(live.new_track_ids))
            return live

    def refresh_catalog(self) -> LiveModel:
        with self._lock:
            cur = self.current
            seq = self.store.catalog_seq()
            if cur is None or seq == cur.catalog_seq:
                return cur
            seq, rows = self.store.tracks_since(0)
            live = LiveModel(cur.bundle, cur.version, rows, seq, loaded_at=cur.loaded_at)
            self.current = live
            log.info("catalogue refreshed: %d new track(s) since training", len(live.new_track_ids))
            return live

    def check(self) -> LiveModel:
        """The snapshot to serve this request with (reloading first if something changed)."""
        cur = self.current
        if cur is None:
            return self.load()
        if self._pointer_stat() != self._current_stat and not self._lock.locked():
            try:
                cur = self.load()
            except Exception as exc:  # keep serving the old model if the new one is unusable
                self.last_error = str(exc)
                if self.current is None:
                    raise
                log.error("reload failed, keeping version %s: %s", self.current.version, exc)
                self._current_stat = self._pointer_stat()
                cur = self.current
        if self.store.catalog_seq() != cur.catalog_seq and not self._lock.locked():
            cur = self.refresh_catalog()
        return cur
