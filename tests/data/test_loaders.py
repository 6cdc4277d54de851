"""Loaders: every bad-input message is pinned; timestamps, ids and numbers parse as documented."""

from __future__ import annotations

import pandas as pd
import pytest

from trackrec.data.loaders import parse_timestamps, read_catalog, read_sessions, read_table
from trackrec.exceptions import DataError

HEADER = "user_id,track_id,played_at,ms_played,skipped\n"


def write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --- structural problems: always an error ------------------------------------------------------

def test_missing_file(tmp_path):
    p = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"nope\.csv: file not found$"):
        read_sessions(p)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_sessions(tmp_path)


def test_empty_file(tmp_path):
    p = write(tmp_path, "s.csv", "")
    with pytest.raises(DataError, match=r"s\.csv: file is empty"):
        read_sessions(p)


def test_header_only(tmp_path):
    p = write(tmp_path, "s.csv", HEADER)
    with pytest.raises(DataError, match=r"s\.csv: file has a header but no data rows"):
        read_sessions(p)


def test_missing_column_names_it_and_lists_found(tmp_path):
    p = write(tmp_path, "s.csv", "user_id,song,played_at\nu1,t1,2026-01-01T00:00:00Z\n")
    with pytest.raises(DataError, match=r"s\.csv: missing required column 'track_id'; found columns: "
                                        r"user_id, song, played_at"):
        read_sessions(p)


def test_missing_column_hints_wrong_separator(tmp_path):
    p = write(tmp_path, "s.csv", "user_id;track_id;played_at\nu1;t1;2026-01-01T00:00:00Z\n")
    with pytest.raises(DataError, match=r"wrong separator\? pass --sep"):
        read_sessions(p)


def test_played_at_required_when_asked(tmp_path):
    p = write(tmp_path, "s.csv", "user_id,track_id\nu1,t1\n")
    with pytest.raises(DataError, match="missing required column 'played_at'"):
        read_sessions(p, require_timestamps=True)
    df, rep = read_sessions(p)
    assert df["played_at"].isna().all()
    assert any("random split" in n for n in rep.notes)


def test_bad_policy_rejected(tmp_path):
    p = write(tmp_path, "s.csv", HEADER + "u1,t1,2026-01-01T00:00:00Z,1000,false\n")
    with pytest.raises(ValueError, match=r"on_bad_rows must be one of \('skip', 'error'\), got 'drop'"):
        read_sessions(p, on_bad_rows="drop")


# --- row-level problems: skip (counted, examples) or error (file, line, column) ---------------

BAD_TS = (HEADER
          + "u1,t1,2026-01-01T10:00:00Z,200000,false\n"   # line 2
          + "u1,t2,yesterday,200000,false\n"              # line 3
          + "u2,t1,2026-01-02T10:00:00Z,200000,false\n"   # line 4
          + "u2,t3,,200000,false\n"                      # line 5 (empty timestamp)
          + "u3,t3,31/12/2025,200000,false\n")            # line 6


def test_unparseable_timestamp_skipped_counted_with_line_numbers(tmp_path):
    p = write(tmp_path, "s.csv", BAD_TS)
    df, rep = read_sessions(p)
    assert len(df) == 2 and rep.rows_read == 5 and rep.rows_kept == 2 and rep.rows_dropped == 3
    problem = "unparseable played_at (expected ISO 8601 or epoch seconds/ms)"
    assert rep.problems == {problem: 3}
    assert rep.examples[problem][0] == "line 3 ('yesterday')"
    assert rep.examples[problem][2] == "line 6 ('31/12/2025')"
    assert rep.summary().startswith(f"{p}: skipped 3 row(s) with unparseable played_at")
    assert "line 3 ('yesterday')" in rep.summary()


def test_unparseable_timestamp_error_names_file_line_column(tmp_path):
    p = write(tmp_path, "s.csv", BAD_TS)
    with pytest.raises(DataError, match=r"s\.csv, line 3, column 'played_at': unparseable played_at "
                                        r"\(expected ISO 8601 or epoch seconds/ms\) 'yesterday'") as ei:
        read_sessions(p, on_bad_rows="error")
    assert ei.value.line == 3 and ei.value.column == "played_at"


def test_only_bad_rows_is_an_error(tmp_path):
    p = write(tmp_path, "s.csv", HEADER + "u1,t1,never,1,false\n")
    with pytest.raises(DataError, match=r"no usable rows \(.*skipped 1 row\(s\) with unparseable played_at"):
        read_sessions(p)


def test_examples_capped_at_three(tmp_path):
    p = write(tmp_path, "s.csv", HEADER + "".join(f"u{i},t1,bad{i},1,false\n" for i in range(6))
              + "u9,t1,2026-01-01T00:00:00Z,1,false\n")
    _, rep = read_sessions(p)
    (problem,) = rep.problems
    assert rep.problems[problem] == 6 and len(rep.examples[problem]) == 3


def test_iso_with_and_without_offset_is_utc(tmp_path):
    p = write(tmp_path, "s.csv", "user_id,track_id,played_at\n"
              "u1,t1,2026-03-01T12:00:00+02:00\n"
              "u1,t2,2026-03-01T12:00:00Z\n"
              "u1,t3,2026-03-01T12:00:00\n"
              "u1,t4,2026-03-01 12:00:00-05:30\n")
    df, rep = read_sessions(p)
    assert not rep.problems
    assert str(df["played_at"].dt.tz) == "UTC"
    expected = pd.to_datetime(["2026-03-01T10:00:00Z", "2026-03-01T12:00:00Z", "2026-03-01T12:00:00Z",
                               "2026-03-01T17:30:00Z"], utc=True)
    assert list(df["played_at"]) == list(expected)


def test_epoch_seconds_and_milliseconds(tmp_path):
    ts = pd.Timestamp("2026-02-03T04:05:06Z")
    sec, ms = int(ts.timestamp()), int(ts.timestamp() * 1000)
    p = write(tmp_path, "s.csv", f"user_id,track_id,played_at\nu1,t1,{sec}\nu1,t2,{ms}\nu1,t3,{sec}.5\n")
    df, rep = read_sessions(p)
    assert not rep.problems
    assert df["played_at"].iloc[0] == ts
    assert df["played_at"].iloc[1] == ts
    assert df["played_at"].iloc[2] == ts + pd.Timedelta(milliseconds=500)


def test_parse_timestamps_mixed_returns_nat_for_garbage():
    out = parse_timestamps(pd.Series(["2026-01-01T00:00:00Z", "1767225600", "soon", None], dtype=object))
    assert out.iloc[0] == out.iloc[1] == pd.Timestamp("2026-01-01T00:00:00Z")
    assert out.iloc[2:].isna().all()


def test_ids_stay_strings(tmp_path):
    p = write(tmp_path, "s.csv", "user_id,track_id,played_at\n"
              "007,007,2026-01-01T00:00:00Z\n"
              "7,7,2026-01-01T00:01:00Z\n"
              "007,7,2026-01-01T00:02:00Z\n"
              "1e3,0.50,2026-01-01T00:03:00Z\n")
    df, _ = read_sessions(p)
    assert df["user_id"].tolist() == ["007", "7", "007", "1e3"]
    assert df["track_id"].tolist() == ["007", "7", "7", "0.50"]
    assert all(isinstance(v, str) for v in df["user_id"]) and all(isinstance(v, str) for v in df["track_id"])
    assert df["user_id"].nunique() == 3


def test_empty_id_is_a_bad_row(tmp_path):
    p = write(tmp_path, "s.csv", "user_id,track_id,played_at\n,t1,2026-01-01T00:00:00Z\nu1,t1,2026-01-01T00:00:00Z\n")
    df, rep = read_sessions(p)
    assert len(df) == 1 and rep.problems == {"empty user_id": 1}
    with pytest.raises(DataError, match=r"line 2, column 'user_id': empty user_id"):
        read_sessions(p, on_bad_rows="error")


def test_duplicate_rows_reported(tmp_path):
    row = "u1,t1,2026-01-01T00:00:00Z,200000,false\n"
    p = write(tmp_path, "s.csv", HEADER + row + "u1,t2,2026-01-01T00:04:00Z,200000,false\n" + row)
    df, rep = read_sessions(p)
    assert len(df) == 2
    problem = "duplicate row (same user, track, time and values as an earlier row)"
    assert rep.problems == {problem: 1} and rep.examples[problem] == ["line 4"]
    with pytest.raises(DataError, match=r"s\.csv, line 4, column 'user_id': duplicate row"):
        read_sessions(p, on_bad_rows="error")


def test_same_track_at_another_time_is_not_a_duplicate(tmp_path):
    p = write(tmp_path, "s.csv", HEADER + "u1,t1,2026-01-01T00:00:00Z,200000,false\n"
              "u1,t1,2026-01-01T00:05:00Z,200000,false\n")
    df, rep = read_sessions(p)
    assert len(df) == 2 and not rep.problems


@pytest.mark.parametrize("value", ["abc", "-5"])
def test_bad_ms_played(tmp_path, value):
    p = write(tmp_path, "s.csv", HEADER + f"u1,t1,2026-01-01T00:00:00Z,{value},false\n"
              "u1,t2,2026-01-01T00:05:00Z,,false\n")
    df, rep = read_sessions(p)
    assert rep.problems == {"bad ms_played (expected a number >= 0)": 1}
    assert df["ms_played"].isna().all()  # the empty cell is "unknown", kept
    with pytest.raises(DataError, match=rf"line 2, column 'ms_played': bad ms_played \(expected a number >= 0\) '{value}'"):
        read_sessions(p, on_bad_rows="error")


def test_bad_skipped(tmp_path):
    p = write(tmp_path, "s.csv", HEADER + "u1,t1,2026-01-01T00:00:00Z,1000,maybe\n"
              "u1,t2,2026-01-01T00:01:00Z,1000,TRUE\nu1,t3,2026-01-01T00:02:00Z,1000,0\n"
              "u1,t4,2026-01-01T00:03:00Z,1000,\n")
    df, rep = read_sessions(p)
    assert rep.problems == {"bad skipped (expected true/false/1/0)": 1}
    assert df["skipped"].tolist() == [True, False, False]
    assert df["skipped"].dtype == bool
    with pytest.raises(DataError, match=r"line 2, column 'skipped': bad skipped .* 'maybe'"):
        read_sessions(p, on_bad_rows="error")


def test_bad_weight(tmp_path):
    p = write(tmp_path, "s.csv", "user_id,track_id,weight\nu1,t1,3\nu1,t2,0\nu1,t3,x\n")
    df, rep = read_sessions(p)
    assert rep.problems == {"bad weight (expected a number > 0)": 2}
    assert df["weight"].tolist() == [3.0]


def test_optional_columns_get_defaults(tmp_path):
    p = write(tmp_path, "s.csv", "user_id,track_id,played_at\nu1,t1,2026-01-01T00:00:00Z\n")
    df, _ = read_sessions(p)
    assert list(df.columns) == ["user_id", "track_id", "played_at", "ms_played", "skipped", "weight"]
    assert df["ms_played"].isna().all() and not df["skipped"].any() and (df["weight"] == 1.0).all()


def test_tsv_by_extension_and_headerless_with_columns(tmp_path):
    p = write(tmp_path, "s.tsv", "u1\tt1\t2026-01-01T00:00:00Z\n")
    df, _ = read_sessions(p, header=False, columns=["user_id", "track_id", "played_at"])
    assert df[["user_id", "track_id"]].values.tolist() == [["u1", "t1"]]
    with pytest.raises(DataError, match="--no-header needs --columns"):
        read_sessions(p, header=False)
    with pytest.raises(DataError, match=r"--columns names 2 column\(s\) but the file has 3"):
        read_sessions(p, header=False, columns=["user_id", "track_id"])


def test_not_utf8(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes(b"user_id,track_id\n\xff\xfe,t1\n")
    with pytest.raises(DataError, match=r"not valid utf-8 text \(byte \d+\); pass the file's encoding"):
        read_sessions(p)


# --- Parquet -----------------------------------------------------------------------------------

def test_parquet_sessions(tmp_path):
    src = pd.DataFrame({
        "user_id": ["007", "7", "007"],
        "track_id": ["7", "007", "t3"],
        "played_at": pd.to_datetime(["2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00Z",
                                     "2026-01-02T00:00:00Z"], utc=True),
        "ms_played": [200000, 1000, 50000],
        "skipped": [False, True, False],
    })
    p = tmp_path / "s.parquet"
    src.to_parquet(p, index=False)
    df, rep = read_sessions(p)
    assert not rep.problems
    assert df["user_id"].tolist() == ["007", "7", "007"]
    assert df["track_id"].tolist() == ["7", "007", "t3"]
    assert df["played_at"].iloc[0] == pd.Timestamp("2025-12-31T23:00:00Z")
    assert df["ms_played"].tolist() == [200000.0, 1000.0, 50000.0]
    assert df["skipped"].tolist() == [False, True, False]


def test_parquet_naive_timestamps_are_utc(tmp_path):
    p = tmp_path / "s.parquet"
    pd.DataFrame({"user_id": ["u"], "track_id": ["t"],
                  "played_at": pd.to_datetime(["2026-01-01T05:00:00"])}).to_parquet(p)
    df, _ = read_sessions(p)
    assert df["played_at"].iloc[0] == pd.Timestamp("2026-01-01T05:00:00Z")


def test_corrupt_parquet(tmp_path):
    p = tmp_path / "s.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"s\.parquet: cannot read as Parquet"):
        read_sessions(p)


def test_read_table_keeps_strings(tmp_path):
    p = write(tmp_path, "t.csv", "a,b\n007,1.50\n")
    df = read_table(p)
    assert df.iloc[0].tolist() == ["007", "1.50"]


# --- catalogue ---------------------------------------------------------------------------------

CAT_HEADER = "track_id,title,genre,mood,tempo,energy\n"


def test_catalog_reads_numbers_and_keeps_string_ids(tmp_path):
    p = write(tmp_path, "c.csv", CAT_HEADER + "007,A,rock,happy,120,0.5\n7,B,jazz,,90,\n")
    cat, rep = read_catalog(p)
    assert cat["track_id"].tolist() == ["007", "7"]
    assert cat["tempo"].tolist() == [120.0, 90.0]
    assert cat["energy"].iloc[0] == 0.5 and pd.isna(cat["energy"].iloc[1])
    assert pd.isna(cat["mood"].iloc[1])
    assert not rep.problems and not rep.notes


def test_catalog_missing_track_id_column(tmp_path):
    p = write(tmp_path, "c.csv", "id,title\n1,A\n")
    with pytest.raises(DataError, match=r"c\.csv: missing required column 'track_id'"):
        read_catalog(p)


def test_catalog_duplicate_track_ids(tmp_path):
    p = write(tmp_path, "c.csv", CAT_HEADER + "007,A,rock,happy,120,0.5\n7,B,jazz,calm,90,0.2\n"
              "007,C,pop,happy,100,0.6\n")
    cat, rep = read_catalog(p)
    assert cat["title"].tolist() == ["A", "B"]  # the first row wins
    assert rep.problems == {"duplicate track_id": 1}
    assert rep.examples["duplicate track_id"] == ["line 4 ('007')"]
    with pytest.raises(DataError, match=r"c\.csv, line 4, column 'track_id': duplicate track_id '007'"):
        read_catalog(p, on_bad_rows="error")


def test_catalog_empty_track_id(tmp_path):
    p = write(tmp_path, "c.csv", CAT_HEADER + ",A,rock,happy,120,0.5\nt2,B,jazz,calm,90,0.2\n")
    cat, rep = read_catalog(p)
    assert cat["track_id"].tolist() == ["t2"] and rep.problems == {"empty track_id": 1}
    with pytest.raises(DataError, match=r"line 2, column 'track_id': empty track_id$"):
        read_catalog(p, on_bad_rows="error")


def test_catalog_non_numeric_value_in_numeric_column(tmp_path):
    rows = "".join(f"t{i:02d},T{i},rock,happy,{100 + i},0.5\n" for i in range(30))
    p = write(tmp_path, "c.csv", CAT_HEADER + rows + "t99,X,rock,happy,fast,0.5\n")
    cat, rep = read_catalog(p)
    assert cat["tempo"].dtype == float
    assert pd.isna(cat["tempo"].iloc[-1]) and cat["tempo"].iloc[0] == 100.0
    assert rep.notes == ["column 'tempo': 1 non-numeric value(s) treated as missing (first at line 32: 'fast')"]
    assert "column 'tempo'" in rep.summary()


def test_catalog_text_column_stays_text(tmp_path):
    p = write(tmp_path, "c.csv", "track_id,label\nt1,Sony\nt2,EMI\n")
    cat, rep = read_catalog(p)
    assert cat["label"].tolist() == ["Sony", "EMI"] and not rep.notes


def test_catalog_parquet(tmp_path):
    p = tmp_path / "c.parquet"
    pd.DataFrame({"track_id": ["007", "7"], "genre": ["rock", None], "tempo": [120.0, None],
                  "explicit": [True, False]}).to_parquet(p)
    cat, _ = read_catalog(p)
    assert cat["track_id"].tolist() == ["007", "7"]
    assert cat["tempo"].iloc[0] == 120.0 and pd.isna(cat["tempo"].iloc[1])
    assert pd.isna(cat["genre"].iloc[1])
    assert cat["explicit"].tolist() == [True, False]
