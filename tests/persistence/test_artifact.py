"""Model artefacts: identical after reload; tampered, truncated, foreign or pickled files refused."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from trackrec.exceptions import ModelFormatError
from trackrec.persistence import FORMAT_VERSION, Workdir, load_bundle, resolve_model_path, save_bundle
from trackrec.persistence.artifact import new_version_name


@pytest.fixture()
def model_copy(saved_bundle_dir, tmp_path):
    """A private copy of the saved model, free to damage."""
    return shutil.copytree(saved_bundle_dir, tmp_path / "copy")


def _manifest(d):
    return json.loads((d / "manifest.json").read_text())


def _write_manifest(d, m):
    (d / "manifest.json").write_text(json.dumps(m))


# --- round trip ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reloaded(saved_bundle_dir):
    return load_bundle(saved_bundle_dir)


def test_round_trip_identical_recommendations_and_scores(trained_bundle, reloaded):
    assert reloaded.strategies == trained_bundle.strategies
    assert reloaded.default_strategy == trained_bundle.default_strategy == "affinity-lr"
    users = list(trained_bundle.dataset.users.external_ids[:10]) + ["nobody"]
    for name in trained_bundle.strategies:
        for a, b in zip(trained_bundle.recommend(users, 10, strategy=name), reloaded.recommend(users, 10, strategy=name)):
            assert list(a.track_ids) == list(b.track_ids), name
            np.testing.assert_array_equal(a.scores, b.scores)
            assert a.cold_start == b.cold_start


def test_round_trip_keeps_everything_prediction_needs(trained_bundle, reloaded):
    a, b = trained_bundle.dataset, reloaded.dataset
    assert a.users == b.users and a.tracks == b.tracks
    assert (a.positives != b.positives).nnz == 0 and (a.played != b.played).nnz == 0
    np.testing.assert_array_equal(a.has_content, b.has_content)
    assert a.data_cutoff == b.data_cutoff and a.fingerprint == b.fingerprint
    pd.testing.assert_frame_equal(a.catalog[["track_id", "title", "genre", "mood"]],
                                  b.catalog[["track_id", "title", "genre", "mood"]])
    np.testing.assert_array_equal(a.catalog["tempo"].to_numpy(float), b.catalog["tempo"].to_numpy(float))
    assert reloaded.metrics["ndcg@10"] == trained_bundle.metrics["ndcg@10"]
    assert reloaded.meta["data_cutoff"] == trained_bundle.meta["data_cutoff"]
    lr_a, lr_b = trained_bundle.model("affinity-lr"), reloaded.model("affinity-lr")
    np.testing.assert_array_equal(lr_a.coef_, lr_b.coef_)
    assert lr_a.intercept_ == lr_b.intercept_ and lr_a.metrics_ == lr_b.metrics_


def test_manifest_contents(saved_bundle_dir):
    m = _manifest(saved_bundle_dir)
    assert m["format"] == "trackrec-model" and m["format_version"] == FORMAT_VERSION
    assert {"trackrec_version", "numpy_version", "created_at", "metrics", "meta", "dataset", "models"} <= set(m)
    assert m["meta"]["data_fingerprint"] and m["meta"]["data_cutoff"]
    for entry in m["arrays"].values():
        p = saved_bundle_dir / entry["file"]
        assert hashlib.sha256(p.read_bytes()).hexdigest() == entry["sha256"]
        assert np.load(p, allow_pickle=False).dtype != object


def test_save_never_overwrites(trained_bundle, saved_bundle_dir):
    with pytest.raises(FileExistsError, match="already exists; model versions are never overwritten"):
        save_bundle(trained_bundle, saved_bundle_dir)


def test_ids_stay_strings_through_save(tiny_dataset, tmp_path):
    from trackrec.models import make_model
    from trackrec.models.bundle import ModelBundle
    pop = make_model("popularity").fit(tiny_dataset)
    b = load_bundle(save_bundle(ModelBundle(tiny_dataset, {"popularity": pop}, "popularity"), tmp_path / "m"))
    assert b.dataset.users.external_ids.tolist()[:2] == ["007", "7"]
    assert b.dataset.tracks.external_ids.tolist()[:2] == ["007", "7"]
    assert pd.isna(b.dataset.catalog["mood"].iloc[11]) and pd.isna(b.dataset.catalog["tempo"].iloc[11])


# --- refusals ------------------------------------------------------------------------------------

def test_flipped_byte_is_a_checksum_mismatch(model_copy):
    entry = _manifest(model_copy)["arrays"]["model.affinity-lr.coef"]
    p = model_copy / entry["file"]
    data = bytearray(p.read_bytes())
    data[-1] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"model\.affinity-lr\.coef\.npy: checksum mismatch; the file was "
                                               r"truncated or modified"):
        load_bundle(model_copy)


def test_truncated_array(model_copy):
    entry = _manifest(model_copy)["arrays"]["dataset.users"]
    p = model_copy / entry["file"]
    p.write_bytes(p.read_bytes()[:50])
    with pytest.raises(ModelFormatError, match="checksum mismatch"):
        load_bundle(model_copy)


def test_truncated_manifest(model_copy):
    p = model_copy / "manifest.json"
    p.write_text(p.read_text()[:200])
    with pytest.raises(ModelFormatError, match=r"manifest\.json: not valid JSON .*; the model is truncated or corrupted"):
        load_bundle(model_copy)


def test_incomplete_manifest(model_copy):
    m = _manifest(model_copy)
    del m["dataset"]
    _write_manifest(model_copy, m)
    with pytest.raises(ModelFormatError, match=r"incomplete manifest \(missing 'dataset'\)"):
        load_bundle(model_copy)


def test_missing_array_file(model_copy):
    entry = _manifest(model_copy)["arrays"]["dataset.tracks"]
    (model_copy / entry["file"]).unlink()
    with pytest.raises(ModelFormatError, match=r"dataset\.tracks\.npy: missing from the model"):
        load_bundle(model_copy)


def test_missing_manifest_and_directory(model_copy, tmp_path):
    (model_copy / "manifest.json").unlink()
    with pytest.raises(ModelFormatError, match=r"manifest\.json: missing; .* is not a trackrec model"):
        load_bundle(model_copy)
    with pytest.raises(ModelFormatError, match="no such model directory"):
        load_bundle(tmp_path / "nothing-here")


def test_wrong_format_version(model_copy):
    m = _manifest(model_copy)
    m["format_version"] = 999
    _write_manifest(model_copy, m)
    with pytest.raises(ModelFormatError, match=r"model format version 999 is not supported by trackrec .* "
                                               rf"\(expected {FORMAT_VERSION}\); retrain"):
        load_bundle(model_copy)


def test_foreign_json(model_copy):
    _write_manifest(model_copy, {"format": "something-else"})
    with pytest.raises(ModelFormatError, match="not a trackrec model manifest"):
        load_bundle(model_copy)


def test_array_path_outside_the_model_is_refused(model_copy):
    m = _manifest(model_copy)
    m["arrays"]["dataset.users"]["file"] = "../../etc/passwd"
    _write_manifest(model_copy, m)
    with pytest.raises(ModelFormatError, match="leaves the model directory"):
        load_bundle(model_copy)


def test_unknown_strategy_in_manifest(model_copy):
    m = _manifest(model_copy)
    m["models"]["popularity"]["class"] = "deep-magic"
    _write_manifest(model_copy, m)
    with pytest.raises(ModelFormatError, match="model uses strategy 'deep-magic', which this trackrec version does not know"):
        load_bundle(model_copy)


class _Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_object_array_is_never_unpickled(model_copy, tmp_path):
    marker = tmp_path / "pwned"
    m = _manifest(model_copy)
    entry = m["arrays"]["model.affinity-lr.coef"]
    p = model_copy / entry["file"]
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    np.save(p, evil, allow_pickle=True)
    # the attacker also fixes the manifest, so checksums pass
    entry["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    entry["bytes"] = p.stat().st_size
    _write_manifest(model_copy, m)
    # sanity: the crafted file really would run code if unpickled
    probe = tmp_path / "probe.npy"
    evil2 = np.empty(1, dtype=object)
    evil2[0] = _Payload(tmp_path / "probe-ran")
    np.save(probe, evil2, allow_pickle=True)
    np.load(probe, allow_pickle=True)
    assert (tmp_path / "probe-ran").exists()
    with pytest.raises(ModelFormatError, match=r"model\.affinity-lr\.coef\.npy: unreadable array"):
        load_bundle(model_copy)
    assert not marker.exists()


# --- workdir: publish, CURRENT, rollback -----------------------------------------------------------

def test_workdir_publish_current_rollback(trained_bundle, tmp_path):
    wd = Workdir(tmp_path / "w")
    with pytest.raises(ModelFormatError, match=r"no trained model in .* \(models/CURRENT is missing\); "
                                               r"run 'trackrec train --workdir .*' first"):
        wd.current_model_path()
    v1 = wd.publish(trained_bundle)
    v2 = wd.publish(trained_bundle)  # within the same second: names must still sort by creation
    assert wd.versions() == [v1, v2]
    assert wd.current_version() == v2
    assert (wd.models_dir / "CURRENT").read_text().strip() == v2
    assert wd.load_current().meta["version"] == v2
    assert resolve_model_path(None, wd.root) == wd.models_dir / v2
    assert resolve_model_path(wd.root, ".") == wd.models_dir / v2
    assert resolve_model_path(wd.models_dir, ".") == wd.models_dir / v2
    assert resolve_model_path(wd.models_dir / v1, ".") == wd.models_dir / v1
    assert wd.rollback() == v1 and wd.current_version() == v1
    with pytest.raises(ModelFormatError, match=rf"no model version older than '{v1}'"):
        wd.rollback()
    wd.set_current(v2)
    assert wd.current_version() == v2
    with pytest.raises(ModelFormatError, match="no such model version"):
        wd.set_current("v-does-not-exist")
    assert [p.name for p in wd.models_dir.iterdir() if p.name.startswith(".")] == []  # no temp leftovers


def test_resolve_model_path_errors(tmp_path):
    with pytest.raises(ModelFormatError, match="no such model"):
        resolve_model_path(tmp_path / "missing", ".")
    with pytest.raises(ModelFormatError, match=r"not a trackrec model \(no manifest\.json\)"):
        resolve_model_path(tmp_path, ".")


def test_version_names_sort_in_creation_order():
    names = [new_version_name() for _ in range(50)]
    assert names == sorted(names) and len(set(names)) == 50
