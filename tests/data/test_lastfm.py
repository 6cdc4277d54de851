"""HetRec Last.fm 2K loader: real files (full load is slow; a slice of them is fast) and tiny
hand-written files for every error message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trackrec.data.dataset import Dataset
from trackrec.data.lastfm import load_lastfm_hetrec
from trackrec.exceptions import DataError
from trackrec.features.embeddings import TrackEncoder

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "lastfm-hetrec2011"
needs_data = pytest.mark.skipif(not (DATA_DIR / "user_artists.dat").exists(),
                                reason=f"HetRec Last.fm 2K not found at {DATA_DIR} (../shared/datasets next to the repo)")


def emb_cols(catalog: pd.DataFrame) -> list[str]:
    return [c for c in catalog.columns if c.startswith("emb_")]


# --- tiny hand-written dataset ------------------------------------------------------------------

ARTISTS = ("id\tname\turl\tpictureURL\n"
           "1\tMALICE MIZER\thttp://www.last.fm/music/MALICE+MIZER\t\n"
           "2\t\"Weird Al\" Yankovic\thttp://www.last.fm/music/%22Weird+Al%22+Yankovic\t\n"
           "3\tRoyce da 5'9\"\thttp://www.last.fm/music/Royce+da+5%279%22\t\n"
           "4\tBjörk\thttp://www.last.fm/music/Bj%C3%B6rk\t\n"
           "5\tNobody Tagged Me\thttp://www.last.fm/music/Nobody\t\n")
TAGS = "tagID\ttagValue\r\n1\tj-rock\r\n2\tcomedy\r\n3\trap\r\n4\trock français\r\n5\tRock Français \r\n6\tpop\r\n"
USER_ARTISTS = "userID\tartistID\tweight\r\n2\t1\t100\r\n2\t2\t50\r\n3\t2\t7\r\n3\t3\t12\r\n4\t4\t3\r\n4\t5\t9\r\n"
USER_TAGGED = ("userID\tartistID\ttagID\tday\tmonth\tyear\r\n"
               "2\t1\t1\t1\t4\t2009\r\n2\t1\t4\t1\t4\t2009\r\n3\t1\t5\t1\t4\t2009\r\n"
               "2\t2\t2\t1\t4\t2009\r\n3\t2\t6\t1\t4\t2009\r\n"
               "3\t3\t3\t1\t4\t2009\r\n3\t3\t2\t1\t4\t2009\r\n"
               "4\t4\t6\t1\t5\t2010\r\n4\t4\t1\t1\t5\t2010\r\n4\t4\t3\t1\t5\t2010\r\n4\t4\t4\t1\t5\t2010\r\n"
               "4\t999\t6\t1\t5\t2010\r\n")  # artist 999 is not in artists.dat (as in the real data)


def make_tiny(root: Path, **override: bytes) -> Path:
    """A valid 5-artist HetRec directory; ``override`` replaces a file's bytes (None deletes it)."""
    root.mkdir(parents=True, exist_ok=True)
    files = {"artists.dat": ARTISTS.encode("utf-8"), "tags.dat": TAGS.encode("latin-1"),
             "user_artists.dat": USER_ARTISTS.encode("ascii"), "user_taggedartists.dat": USER_TAGGED.encode("ascii")}
    files.update({k.replace("__", "."): v for k, v in override.items()})
    for name, data in files.items():
        if data is not None:
            (root / name).write_bytes(data)
    return root


def test_tiny_dataset_loads_with_quotes_latin1_and_crlf(tmp_path):
    sessions, catalog = load_lastfm_hetrec(make_tiny(tmp_path / "d"), n_components=2)
    assert list(sessions.columns) == ["user_id", "track_id", "played_at", "ms_played", "skipped", "weight"]
    assert sessions["user_id"].tolist() == ["2", "2", "3", "3", "4", "4"]
    assert sessions["track_id"].tolist() == ["1", "2", "2", "3", "4", "5"]
    assert sessions["weight"].tolist() == [100.0, 50.0, 7.0, 12.0, 3.0, 9.0]
    assert sessions["played_at"].isna().all() and str(sessions["played_at"].dtype) == "datetime64[ns, UTC]"
    assert sessions["ms_played"].isna().all() and not sessions["skipped"].any()
    assert catalog["track_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert catalog["title"].tolist() == ["MALICE MIZER", '"Weird Al" Yankovic', "Royce da 5'9\"", "Björk",
                                         "Nobody Tagged Me"]
    assert (catalog["artist"] == catalog["title"]).all()
    assert not catalog["url"].str.contains("\r").any()
    # "rock français" (Latin-1 in tags.dat) and "Rock Français " are one tag, MALICE MIZER's most used.
    assert catalog.loc[0, "top_tags"].split(", ")[0] == "rock français"
    assert emb_cols(catalog) == ["emb_00", "emb_01"]


def test_untagged_artist_has_nan_embedding_and_is_marked(tmp_path):
    _, catalog = load_lastfm_hetrec(make_tiny(tmp_path / "d"), n_components=2)
    emb = catalog[emb_cols(catalog)].to_numpy()
    has = catalog["has_content"].to_numpy()
    assert has.tolist() == [True, True, True, True, False]
    assert np.isnan(emb[~has]).all() and not np.isnan(emb[has]).any()
    np.testing.assert_allclose(np.linalg.norm(emb[has], axis=1), 1.0, atol=1e-6)
    assert catalog.attrs["lastfm"]["tag_assignments_unknown_artist"] == 1


def test_catalogue_feeds_the_track_encoder(tmp_path):
    _, catalog = load_lastfm_hetrec(make_tiny(tmp_path / "d"), n_components=2)
    enc = TrackEncoder().fit(catalog)
    assert enc.feature_names_ == ["emb_00", "emb_01"]  # not has_content, ids, names, urls or tags text
    x = enc.transform(catalog)
    assert x.shape == (5, 2) and np.isfinite(x).all()  # the untagged artist is imputed, never a crash


def test_seeded_and_deterministic(tmp_path):
    d = make_tiny(tmp_path / "d")
    a = load_lastfm_hetrec(d, n_components=2, random_state=3)[1]
    b = load_lastfm_hetrec(d, n_components=2, random_state=3)[1]
    pd.testing.assert_frame_equal(a, b)


def test_n_components_is_validated(tmp_path):
    with pytest.raises(ValueError, match="n_components must be a positive integer"):
        load_lastfm_hetrec(make_tiny(tmp_path / "d"), n_components=0)


# --- error messages: one line, naming the file (and line/column where it applies) ---------------

def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match=r"nope: data directory not found \(expected the HetRec Last\.fm 2K "
                                        r"files: user_artists\.dat, artists\.dat, tags\.dat, user_taggedartists\.dat\)") as e:
        load_lastfm_hetrec(tmp_path / "nope")
    _one_line(e)


def test_missing_file(tmp_path):
    d = make_tiny(tmp_path / "d", tags__dat=None)
    with pytest.raises(DataError, match=r"tags\.dat: file not found \(part of the HetRec Last\.fm 2K dataset"):
        load_lastfm_hetrec(d)


def test_wrong_separator(tmp_path):
    d = make_tiny(tmp_path / "d", user_artists__dat=USER_ARTISTS.replace("\t", ",").encode())
    with pytest.raises(DataError, match=r"user_artists\.dat: missing required column 'userID'; expected userID, "
                                        r"artistID, weight; found columns: userID,artistID,weight "
                                        r"\(wrong separator\? the HetRec files are tab-separated\)") as e:
        load_lastfm_hetrec(d)
    _one_line(e)


def test_missing_column(tmp_path):
    text = "userID\tartistID\r\n2\t1\r\n"
    d = make_tiny(tmp_path / "d", user_artists__dat=text.encode())
    with pytest.raises(DataError, match=r"user_artists\.dat: missing required column 'weight'; expected userID, "
                                        r"artistID, weight; found columns: userID, artistID$"):
        load_lastfm_hetrec(d)


def test_bad_encoding(tmp_path):
    # artists.dat re-encoded as Latin-1: "Björk" is no longer valid UTF-8 (line 5 counting the header).
    d = make_tiny(tmp_path / "d", artists__dat=ARTISTS.encode("latin-1"))
    with pytest.raises(DataError, match=r"artists\.dat, line 5: not valid utf-8 text \(byte 0xf6 at offset \d+\); "
                                        r"the HetRec file artists\.dat is utf-8-encoded - was it re-encoded\?") as e:
        load_lastfm_hetrec(d)
    _one_line(e)


def test_empty_file(tmp_path):
    d = make_tiny(tmp_path / "d", user_taggedartists__dat=b"")
    with pytest.raises(DataError, match=r"user_taggedartists\.dat: file is empty$"):
        load_lastfm_hetrec(d)


def test_header_only_file(tmp_path):
    d = make_tiny(tmp_path / "d", artists__dat=b"id\tname\turl\tpictureURL\n")
    with pytest.raises(DataError, match=r"artists\.dat: file has a header but no data rows$"):
        load_lastfm_hetrec(d)


def test_non_integer_id_names_line_and_column(tmp_path):
    d = make_tiny(tmp_path / "d", user_artists__dat=USER_ARTISTS.replace("3\t2\t7", "3\tabc\t7").encode())
    with pytest.raises(DataError, match=r"user_artists\.dat, line 4, column 'artistID': expected an integer, got 'abc'"):
        load_lastfm_hetrec(d)


def test_stray_tab_names_the_line(tmp_path):
    d = make_tiny(tmp_path / "d", user_artists__dat=USER_ARTISTS.replace("3\t3\t12", "3\t3\t12\t1").encode())
    with pytest.raises(DataError, match=r"user_artists\.dat, line 5: expected 3 tab-separated fields, found 4"):
        load_lastfm_hetrec(d)


def test_bad_play_count(tmp_path):
    d = make_tiny(tmp_path / "d", user_artists__dat=USER_ARTISTS.replace("4\t4\t3", "4\t4\t0").encode())
    with pytest.raises(DataError, match=r"line 6, column 'weight': expected a play count > 0, got '0'"):
        load_lastfm_hetrec(d)


# --- the real files ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_slice(tmp_path_factory):
    """The real files cut down to ~60 users and their artists (bytes, encodings, CRLF kept)."""
    if not (DATA_DIR / "user_artists.dat").exists():
        pytest.skip(f"HetRec Last.fm 2K not found at {DATA_DIR}")
    out = tmp_path_factory.mktemp("lastfm-slice")

    def lines(name: str) -> list[bytes]:
        return (DATA_DIR / name).read_bytes().splitlines(keepends=True)

    ua = lines("user_artists.dat")
    keep_ua = [ln for ln in ua[1:] if int(ln.split(b"\t")[0]) <= 70]
    artists = {ln.split(b"\t")[1] for ln in keep_ua}
    art = lines("artists.dat")
    keep_art = [ln for ln in art[1:] if ln.split(b"\t")[0] in artists or b'"' in ln]  # + every quoted name
    artists |= {ln.split(b"\t")[0] for ln in keep_art}
    uta = lines("user_taggedartists.dat")
    keep_uta = [ln for ln in uta[1:] if ln.split(b"\t")[1] in artists]
    (out / "user_artists.dat").write_bytes(b"".join(ua[:1] + keep_ua))
    (out / "artists.dat").write_bytes(b"".join(art[:1] + keep_art))
    (out / "user_taggedartists.dat").write_bytes(b"".join(uta[:1] + keep_uta))
    (out / "tags.dat").write_bytes((DATA_DIR / "tags.dat").read_bytes())
    return out


def test_real_slice_loads_and_builds_a_dataset(real_slice):
    sessions, catalog = load_lastfm_hetrec(real_slice, n_components=16)
    assert sessions["user_id"].nunique() > 40 and len(sessions) > 2000
    assert catalog["track_id"].is_unique and len(emb_cols(catalog)) == 16
    assert '"Weird Al" Yankovic' in set(catalog["title"])  # quotes kept (QUOTE_NONE)
    assert sessions["track_id"].isin(catalog["track_id"]).all()
    ds = Dataset.from_frames(sessions, catalog)
    assert ds.stats["plays_not_in_catalog"] == 0 and ds.n_users == sessions["user_id"].nunique()
    # play counts are weights: the positives matrix sums to the total play count
    assert ds.positives.sum() == pytest.approx(sessions["weight"].sum(), rel=1e-6)


@pytest.mark.slow
@needs_data
def test_full_dataset_matches_published_statistics():
    sessions, catalog = load_lastfm_hetrec(DATA_DIR)
    assert len(sessions) == 92_834
    assert sessions["user_id"].nunique() == 1_892
    assert sessions["track_id"].nunique() == 17_632
    assert sessions["weight"].sum() == 69_183_975
    assert len(catalog) == 17_632 and catalog["track_id"].is_unique
    assert emb_cols(catalog) == [f"emb_{i:02d}" for i in range(32)]
    stats = catalog.attrs["lastfm"]
    assert stats["tag_assignments"] == 186_479 and stats["pairs_not_in_catalog"] == 0
    has = catalog["has_content"].to_numpy()
    assert 11_000 < has.sum() < 12_523  # tagged artists that are in artists.dat (singleton tags dropped)
    emb = catalog[emb_cols(catalog)].to_numpy()
    assert np.isnan(emb[~has]).all()
    np.testing.assert_allclose(np.linalg.norm(emb[has], axis=1), 1.0, atol=1e-5)
    # The embedding means something: Metallica is closer to Megadeth than to Britney Spears.
    vec = {n: emb[catalog.index[catalog["title"] == n][0]] for n in ("Metallica", "Megadeth", "Britney Spears")}
    assert vec["Metallica"] @ vec["Megadeth"] > 0.5 > vec["Metallica"] @ vec["Britney Spears"]
