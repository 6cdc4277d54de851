"""Generic event files ("a file you have never seen") through ``read_sessions`` with a separator,
no header and a column mapping (``--sep``, ``--no-header``, ``--columns`` on the CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trackrec.data.loaders import read_sessions
from trackrec.exceptions import DataError

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "lastfm-hetrec2011"
UDATA_COLUMNS = ["user_id", "track_id", "weight", "played_at"]
#: MovieLens-100k style u.data: user, item, rating, epoch seconds; tab-separated, no header.
UDATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n007\t0377\t1\t878887116\n7\t51\t2\t880606923\n"
#: user_taggedartists.dat style: a header, six columns, several rows per (user, artist), CRLF.
TAGGED = ("userID\tartistID\ttagID\tday\tmonth\tyear\r\n"
          "2\t52\t13\t1\t4\t2009\r\n2\t52\t15\t1\t4\t2009\r\n2\t63\t13\t1\t4\t2009\r\n3\t52\t1\t1\t5\t2010\r\n")


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return p


def one_line(exc: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(exc.value)
    return str(exc.value)


@pytest.mark.parametrize("sep", ["\t", "\\t", "tab", None])  # None: .data is not .tsv/.dat, so pass it
def test_movielens_style_udata(tmp_path, sep):
    p = write(tmp_path, "u.data", UDATA)
    if sep is None:
        with pytest.raises(DataError, match=r"u\.data: --columns names 4 column\(s\) but the file has 1 "
                                            r"\(separator ','\?\)$"):
            read_sessions(p, header=False, columns=UDATA_COLUMNS)
        return
    s, report = read_sessions(p, sep=sep, header=False, columns=UDATA_COLUMNS)
    assert s["user_id"].tolist() == ["196", "186", "007", "7"]  # ids stay strings: "007" != "7"
    assert s["track_id"].tolist() == ["242", "302", "0377", "51"]
    assert s["weight"].tolist() == [3.0, 3.0, 1.0, 2.0]
    assert s["played_at"].iloc[0] == pd.Timestamp(881250949, unit="s", tz="UTC")
    assert s["ms_played"].isna().all() and not s["skipped"].any()
    assert report.rows_read == report.rows_kept == 4 and not report.problems


def test_whitespace_run_separator_and_crlf(tmp_path):
    p = write(tmp_path, "plays.txt", "196   242 3\t881250949\r\n186 302  3 891717742\r\n")
    s, _ = read_sessions(p, sep=" ", header=False, columns=UDATA_COLUMNS)
    assert s[["user_id", "track_id"]].values.tolist() == [["196", "242"], ["186", "302"]]
    assert s["played_at"].notna().all()


def test_multi_character_separator(tmp_path):
    p = write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")  # MovieLens-1M
    s, _ = read_sessions(p, sep="::", header=False, columns=UDATA_COLUMNS)
    assert s["track_id"].tolist() == ["1193", "661"] and s["weight"].tolist() == [5.0, 3.0]
    p = write(tmp_path, "pipes.txt", "a||b\nc||d\n")  # not a regular expression
    s, _ = read_sessions(p, sep="||", header=False, columns=["user_id", "track_id"])
    assert s["track_id"].tolist() == ["b", "d"]


def test_tagged_artists_as_events(tmp_path):
    p = write(tmp_path, "user_taggedartists.dat", TAGGED)
    s, report = read_sessions(p, columns=["user_id", "track_id", "_", "_", "_", "_"])
    assert list(s.columns) == ["user_id", "track_id", "played_at", "ms_played", "skipped", "weight"]
    assert s[["user_id", "track_id"]].values.tolist() == [["2", "52"], ["2", "63"], ["3", "52"]]
    assert s["played_at"].isna().all()
    assert report.problems == {"duplicate row (same user, track, time and values as an earlier row)": 1}
    assert report.examples[next(iter(report.problems))] == ["line 3"]
    assert report.notes == ["no played_at column: evaluation uses a seeded random split"]


@pytest.mark.skipif(not (DATA_DIR / "user_taggedartists.dat").exists(), reason=f"no HetRec Last.fm 2K at {DATA_DIR}")
def test_real_user_taggedartists_as_events():
    s, report = read_sessions(DATA_DIR / "user_taggedartists.dat", columns=["user_id", "track_id", "_", "_", "_", "_"])
    assert report.rows_read == 186_479
    assert report.rows_kept == len(s) == s[["user_id", "track_id"]].drop_duplicates().shape[0]
    assert s["user_id"].nunique() == 1_892


# --- messages for malformed files ---------------------------------------------------------------

def test_wrong_separator_with_header(tmp_path):
    p = write(tmp_path, "events.csv", "user_id\ttrack_id\tplayed_at\nu1\tt1\t2026-01-01T00:00:00Z\n")
    with pytest.raises(DataError, match=r"events\.csv: missing required column 'user_id'; found columns: "
                                        r"user_id\ttrack_id\tplayed_at \(wrong separator\? pass --sep\)$") as e:
        read_sessions(p)
    one_line(e)


def test_wrong_separator_without_header(tmp_path):
    p = write(tmp_path, "u.data", UDATA)
    with pytest.raises(DataError, match=r"u\.data: --columns names 4 column\(s\) but the file has 1 "
                                        r"\(separator ';'\?\)$"):
        read_sessions(p, sep=";", header=False, columns=UDATA_COLUMNS)


def test_too_few_column_names(tmp_path):
    p = write(tmp_path, "u.data", UDATA)
    with pytest.raises(DataError, match=r"u\.data: --columns names 3 column\(s\) but the file has 4"):
        read_sessions(p, sep="\t", header=False, columns=["user_id", "track_id", "weight"])


def test_missing_required_column(tmp_path):
    p = write(tmp_path, "u.data", UDATA)
    with pytest.raises(DataError, match=r"u\.data: missing required column 'track_id'; found columns: "
                                        r"user_id, weight, played_at$"):
        read_sessions(p, sep="\t", header=False, columns=["user_id", "_", "weight", "played_at"])


def test_no_header_needs_columns(tmp_path):
    p = write(tmp_path, "u.data", UDATA)
    with pytest.raises(DataError, match=r"u\.data: --no-header needs --columns to name the file's columns"):
        read_sessions(p, sep="\t", header=False)


def test_bad_encoding_names_the_line(tmp_path):
    rows = "".join(f"u{i}\tt{i}\n" for i in range(50_000))
    p = write(tmp_path, "big.tsv", ("user_id\ttrack_id\n" + rows + "u9\tcaf\xe9\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"big\.tsv, line 50002: not valid utf-8 text \(byte \d+\); "
                                        r"pass the file's encoding$") as e:
        read_sessions(p)
    one_line(e)
    s, _ = read_sessions(p, encoding="latin-1")
    assert s["track_id"].iloc[-1] == "café"


def test_unknown_encoding(tmp_path):
    p = write(tmp_path, "u.data", UDATA)
    with pytest.raises(DataError, match=r"u\.data: unknown encoding 'utf-99'$"):
        read_sessions(p, sep="\t", header=False, columns=UDATA_COLUMNS, encoding="utf-99")


def test_empty_file(tmp_path):
    p = write(tmp_path, "u.data", "")
    with pytest.raises(DataError, match=r"u\.data: file is empty$"):
        read_sessions(p, sep="\t", header=False, columns=UDATA_COLUMNS)


def test_parquet_events_with_column_mapping(tmp_path):
    p = tmp_path / "events.parquet"
    pd.DataFrame({"uid": ["007", "7"], "item": ["a", "b"], "n": [2, 5]}).to_parquet(p, index=False)
    s, _ = read_sessions(p, columns=["user_id", "track_id", "weight"])
    assert s["user_id"].tolist() == ["007", "7"] and s["weight"].tolist() == [2.0, 5.0]


def test_collaborative_models_run_without_a_catalogue(tmp_path):
    from trackrec.pipeline import train
    rng = np.random.default_rng(0)
    users = np.repeat([f"{i:03d}" for i in range(40)], 15)
    items = rng.integers(0, 60, size=len(users))
    lines = "".join(f"{u}\t{t}\t1\t{1_000_000_000 + i * 60}\n" for i, (u, t) in enumerate(zip(users, items)))
    s, _ = read_sessions(write(tmp_path, "u.data", lines), sep="\t", header=False, columns=UDATA_COLUMNS)
    bundle = train(s, None, strategies=("popularity", "similarity"))
    assert list(bundle.models) == ["popularity"]
    assert any(n.startswith("similarity:") for n in bundle.metrics["notes"])
    assert len(bundle.recommend("000", k=5).track_ids) == 5
