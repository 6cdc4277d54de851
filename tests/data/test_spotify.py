"""Spotify "Extended streaming history" import: reading, matching, idempotence, recommending.

The fixture ``tests/fixtures/spotify/Streaming_History_Audio_2024.json`` is hand-written in the
export's format (13 rows, account ``alice.listens``):

====  ==========================================================  ===============================
rows  what                                                        expected
====  ==========================================================  ===============================
1,13  "Fixture Song One", URI ...UriMatch000001 (played twice)     matched by URI
2,11  "Fixture Song Two", URI ...000002; row 11 5 s + fwdbtn       matched by URI; row 11 skipped
3     "Fixture Song Three", URI ...000003                          matched by URI
4     exact duplicate of row 3                                     dropped: duplicate
5     "  midnight   CITY " by "m83", URI not in the catalogue      matched by artist + title
6     "Teardrop" by "MASSIVE  ATTACK", no URI (local file)         matched by artist + title
7     URI ...Unmatched00005                                        unmatched -> added to catalogue
8,9   URI ...Unmatched00006 (played twice)                         unmatched -> added to catalogue
10    podcast episode (no track fields)                            dropped: episode
12    ts "yesterday"                                               dropped: unparseable ts
====  ==========================================================  ===============================
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from trackrec.data.generate import generate_world, write_world
from trackrec.data.loaders import read_catalog, read_sessions
from trackrec.data.spotify import (
    R_ALREADY,
    R_DUP,
    R_EPISODE,
    R_TS,
    import_spotify,
    normalise_text,
    read_spotify_history,
    track_uri_id,
)
from trackrec.exceptions import DataError
from trackrec.persistence.workdir import Workdir

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "spotify"
FIXTURE = FIXTURE_DIR / "Streaming_History_Audio_2024.json"
USER = "spotify-alice.listens"
URIS = ["spotify:track:1FixtureUriMatch000001", "spotify:track:1FixtureUriMatch000002",
        "https://open.spotify.com/track/1FixtureUriMatch000003?si=abc"]  # a link form matches too
EXPECTED = {"user_id": USER, "plays": 10, "rows_read": 13, "matched_tracks": 5, "unmatched_tracks": 2,
            "matched_by_uri": 3, "matched_by_title": 2, "matched_plays": 7, "unmatched_plays": 3,
            "new_catalog_tracks": 2,
            "skipped_rows": {R_EPISODE: 1, R_TS: 1, R_DUP: 1}}


@pytest.fixture(scope="module")
def world():
    catalog, sessions = generate_world(n_users=50, n_tracks=300, n_plays=5000, random_state=0)
    catalog = catalog.copy()
    catalog["spotify_track_uri"] = None
    catalog.loc[:2, "spotify_track_uri"] = URIS
    catalog.loc[3, ["title", "artist"]] = ["Midnight City", "M83"]
    catalog.loc[4, ["title", "artist"]] = ["Teardrop", "Massive Attack"]
    return catalog, sessions


def make_workdir(root: Path, world, fmt: str = "csv") -> Workdir:
    wd = Workdir(root).ensure()
    write_world(wd.data_dir, *world, fmt=fmt)
    return wd


def subset(report: dict) -> dict:
    return {k: report[k] for k in EXPECTED}


# --- reading ----------------------------------------------------------------------------------

def test_read_keeps_music_plays_and_counts_dropped_rows():
    df = read_spotify_history(FIXTURE)
    assert len(df) == 10
    assert df.attrs["rows_read"] == 13
    assert df.attrs["skipped_rows"] == {R_EPISODE: 1, R_TS: 1, R_DUP: 1}
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert df["source_row"].tolist() == [1, 2, 3, 5, 6, 7, 8, 9, 11, 13]
    # skipped = the export's flag, or reason_end "fwdbtn" (row 11 has skipped null)
    assert df.loc[df["source_row"] == 11, "skipped"].item() is True
    assert df["skipped"].sum() == 1
    assert df.loc[df["source_row"] == 6, "spotify_track_uri"].item() is None


def test_read_accepts_a_directory_and_the_basic_export(tmp_path):
    assert len(read_spotify_history(FIXTURE_DIR)) == 10
    basic = [{"endTime": "2024-01-02 10:00", "artistName": "M83", "trackName": "Midnight City", "msPlayed": 200000},
             {"endTime": "2024-01-02 10:05", "artistName": "Some Podcast", "trackName": "Unknown Episode",
              "msPlayed": 0}]
    p = tmp_path / "StreamingHistory0.json"
    p.write_text(json.dumps(basic), encoding="utf-8")
    df = read_spotify_history([p])
    assert len(df) == 2 and df["master_metadata_track_name"].tolist()[0] == "Midnight City"
    assert df["ts"].iloc[0] == pd.Timestamp("2024-01-02T10:00:00Z")


def test_uri_and_text_normalisation():
    assert track_uri_id("spotify:track:1FixtureUriMatch000001") == "1FixtureUriMatch000001"
    assert track_uri_id("https://open.spotify.com/intl-de/track/1FixtureUriMatch000001?si=x") == "1FixtureUriMatch000001"
    assert track_uri_id("spotify:episode:1FixturePodcast000001") is None
    assert track_uri_id(None) is None and track_uri_id("spotify:local:a:b:c:200") is None
    assert normalise_text("  midnight   CITY ") == normalise_text("Midnight City") == "midnight city"
    assert normalise_text("ＡＢＣ") == "abc"  # full-width letters (NFKC)


@pytest.mark.parametrize("content, message", [
    (b'[{"ts": "2024-01-01T00:00:00Z",', r"bad\.json: not valid JSON \(\w[^()]* at line 1 column 32\); "
                                         r"expected a Spotify streaming history export$"),
    (b"", r"bad\.json: file is empty$"),
    (b'{"ts": "2024-01-01T00:00:00Z"}', r"bad\.json: expected a JSON array of plays \(Spotify streaming history\), "
                                        r"got a JSON object$"),
    (b'[{"endTimeX": 1, "ms_played": 3}]', r"bad\.json, column 'ts': missing field 'ts' in every row"),
    (b'["a", "b"]', r"bad\.json: no play objects in the JSON array"),
    (b'[{"ts": "2024-01-01T00:00:00Z", "caf\xe9": 1}]', r"bad\.json: not valid UTF-8 text \(offset 36\); expected a Spotify JSON export$"),
])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, content, message):
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(DataError, match=message) as exc:
        read_spotify_history(p)
    assert "\n" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.json: file not found$"):
        read_spotify_history(tmp_path / "nope.json")


def test_empty_directory(tmp_path):
    with pytest.raises(DataError, match=r"no Spotify streaming history files \(Streaming_History\*\.json\)"):
        read_spotify_history(tmp_path)


# --- importing ------------------------------------------------------------------------------------

def test_import_reports_matches_and_updates_the_workdir(tmp_path, world):
    wd = make_workdir(tmp_path / "w", world)
    report = import_spotify(FIXTURE, wd.root)
    assert subset(report) == EXPECTED
    sessions, s_rep = read_sessions(wd.sessions_path)
    catalog, _ = read_catalog(wd.catalog_path)
    assert not s_rep.problems  # the appended rows are valid sessions
    mine = sessions[sessions["user_id"] == USER]
    assert len(mine) == 10 and len(sessions) == 5000 + 10
    assert mine["track_id"].value_counts().to_dict() == {
        "t00001": 2, "t00002": 2, "spotify:1FixtureUnmatched00006": 2, "t00003": 1, "t00004": 1, "t00005": 1,
        "spotify:1FixtureUnmatched00005": 1}
    assert mine["skipped"].sum() == 1 and mine["ms_played"].min() == 5000
    assert mine["played_at"].min() == pd.Timestamp("2024-03-01T18:00:00Z")
    new = catalog[catalog["track_id"].str.startswith("spotify:")].set_index("track_id")
    assert len(catalog) == 302
    assert new.loc["spotify:1FixtureUnmatched00005", ["title", "artist", "album"]].tolist() == [
        "Song Nobody Catalogued", "Unknown Artist Collective", "Rarities"]
    assert new["genre"].isna().all() and new["energy"].isna().all()  # no content features
    assert catalog.set_index("track_id")["has_content"].map(str).value_counts().to_dict() == {"True": 300, "False": 2}


def test_reimport_adds_nothing_and_now_matches_everything(tmp_path, world):
    wd = make_workdir(tmp_path / "w", world)
    import_spotify(FIXTURE, wd.root)
    before_s, before_c = wd.sessions_path.read_bytes(), wd.catalog_path.read_bytes()
    again = import_spotify(FIXTURE, wd.root)
    assert again["plays"] == 0 and again["new_catalog_tracks"] == 0
    assert again["skipped_rows"][R_ALREADY] == 10
    assert again["matched_by_uri"] == 5 and again["unmatched_tracks"] == 0  # the added tracks match now
    assert wd.sessions_path.read_bytes() == before_s and wd.catalog_path.read_bytes() == before_c


def test_import_keeps_existing_csv_rows_unchanged(tmp_path, world):
    wd = make_workdir(tmp_path / "w", world)
    old_lines = wd.sessions_path.read_text(encoding="utf-8").splitlines()
    import_spotify(FIXTURE, wd.root)
    new_lines = wd.sessions_path.read_text(encoding="utf-8").splitlines()
    assert new_lines[:len(old_lines)] == old_lines
    assert new_lines[-1] == f"{USER},t00001,2024-03-04T07:30:00Z,200000,False"


def test_user_option_and_parquet_workdir(tmp_path, world):
    wd = make_workdir(tmp_path / "w", world, fmt="parquet")
    dtypes = pd.read_parquet(wd.sessions_path).dtypes.map(str).to_dict()
    report = import_spotify([FIXTURE], wd.root, user="me")
    assert report["user_id"] == "me" and report["plays"] == 10
    raw = pd.read_parquet(wd.sessions_path)
    assert raw.dtypes.map(str).to_dict() == dtypes  # types kept
    sessions, _ = read_sessions(wd.sessions_path)
    assert (sessions["user_id"] == "me").sum() == 10
    assert import_spotify([FIXTURE], wd.root, user="me")["plays"] == 0


def test_import_errors(tmp_path, world):
    with pytest.raises(DataError, match=r"workdir not found"):
        import_spotify(FIXTURE, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"sessions\.csv: no sessions file in the workdir; import adds a listener "
                                        r"to an existing setup: run 'trackrec generate --workdir .*' first"):
        import_spotify(FIXTURE, tmp_path / "empty")
    wd = make_workdir(tmp_path / "w", world)
    with pytest.raises(DataError, match="--user must not be empty"):
        import_spotify(FIXTURE, wd.root, user="  ")
    two = [dict(r, username="bob") for r in json.loads(FIXTURE.read_text(encoding="utf-8"))[:2]]
    p = tmp_path / "bob.json"
    p.write_text(json.dumps(two), encoding="utf-8")
    with pytest.raises(DataError, match=r"the files hold plays of 2 Spotify accounts \(alice\.listens, bob\)"):
        import_spotify([FIXTURE, p], wd.root)


def test_imported_user_gets_personal_recommendations(tmp_path, world):
    from trackrec.pipeline import train
    wd = make_workdir(tmp_path / "w", world)
    import_spotify(FIXTURE, wd.root)
    sessions, _ = read_sessions(wd.sessions_path)
    catalog, _ = read_catalog(wd.catalog_path)
    bundle = train(sessions, catalog, strategies=("popularity", "affinity-lr"))
    rec = bundle.recommend(USER, k=10)
    assert not rec.cold_start and len(rec.track_ids) == 10
    enjoyed = {"t00001", "t00003", "t00004", "t00005"}  # played >= 30 s and not skipped
    assert enjoyed.isdisjoint(rec.track_ids)  # already-listened tracks are excluded
    assert set(bundle.history(USER)) >= enjoyed


# --- CLI ------------------------------------------------------------------------------------------

def _app():
    import typer

    from trackrec.data.commands import register
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root():  # keep import-spotify a sub-command
        pass
    return app


def test_cli_json_report_and_errors(tmp_path, world):
    wd = make_workdir(tmp_path / "w", world)
    runner = CliRunner()
    res = runner.invoke(_app(), ["import-spotify", str(FIXTURE), "--workdir", str(wd.root), "--json"])
    assert res.exit_code == 0, res.output
    assert subset(json.loads(res.stdout)) == EXPECTED
    res = runner.invoke(_app(), ["import-spotify", str(FIXTURE), "--workdir", str(wd.root)])
    assert res.exit_code == 0 and "imported 0 play(s) as user spotify-alice.listens" in res.stdout
    res = runner.invoke(_app(), ["import-spotify", str(tmp_path / "nope.json"), "--workdir", str(wd.root)])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.json'}: file not found"]
    res = runner.invoke(_app(), ["import-spotify", "--help"])
    assert "Example: trackrec import-spotify" in res.stdout
