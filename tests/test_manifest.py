"""The typed manifest: the bundled one round-trips to the same bytes; every other shape is refused with one
WeightsError naming the manifest file and the field; file names stay inside the weights folder."""

from __future__ import annotations

import json
import shutil

import pytest

import semhm_models
from semhm_models import weights
from semhm_models.errors import WeightsError
from semhm_models.manifest import FileEntry, Manifest

BUNDLED = json.loads((weights.BUNDLED / "manifest.json").read_text())


def test_bundled_manifest_round_trips_exactly():
    m = Manifest.from_dict(BUNDLED)
    assert m.qun_masks == "coarse" and m.mpn_tta == "flip-scale" and m.file("mrn", "fp16") == "mrn.fp16.onnx"
    assert isinstance(m.files["mpn.onnx"], FileEntry) and m.files["mpn.onnx"].bytes > 0
    assert "licences" in m.info and "files" not in m.info
    assert json.dumps(m.to_dict(), indent=1) + "\n" == (weights.BUNDLED / "manifest.json").read_text()
    assert m.file("locate") == m.file("locate", "fp16") == "locate.onnx"  # the locator is float32 only


def _with(path: str, value) -> dict:
    """BUNDLED with the field at dotted ``path`` set to ``value`` (or removed when value is ...)."""
    d = json.loads(json.dumps(BUNDLED))
    *parents, last = path.split("|")
    node = d
    for k in parents:
        node = node[k]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return d


@pytest.mark.parametrize(
    "path, value, field",
    [
        ("files|mpn.onnx", {}, "files.mpn.onnx.sha256"),
        ("files|mpn.onnx", "3b2b", "files.mpn.onnx.sha256"),
        ("files|mpn.onnx", [1, 2], "files.mpn.onnx.sha256"),
        ("files|mpn.onnx|bytes", "12", "files.mpn.onnx.bytes"),
        ("files|mpn.onnx|bytes", True, "files.mpn.onnx.bytes"),
        ("files|mpn.onnx|sha256", "xyz", "files.mpn.onnx.sha256"),
        ("files", [], "files"),
        ("files", ..., "files"),
        ("stages", ["mpn.onnx", "qun.onnx", "mrn.onnx"], "stages"),
        ("stages", ..., "stages"),
        ("stages|mrn", ..., "stages.mrn"),
        ("stages|mrn", "other.onnx", "stages.mrn"),
        ("stages|extra", "mpn.onnx", "stages.extra"),
        ("stages|locate", 3, "stages.locate"),
        ("stages|locate", "other.onnx", "stages.locate"),
        ("precisions", "fp16", "precisions"),
        ("precisions|fp16", ["x"], "precisions.fp16"),
        ("format", ..., "format"),
        ("format", "semhm-weights/2", "format"),
        ("name", ..., "name"),
        ("version", 1, "version"),
        ("qun_masks", "some", "qun_masks"),
        ("mpn_tta", None, "mpn_tta"),
        ("mpn_tta", "zoom", "mpn_tta"),
        ("locate_tta", "zoom", "locate_tta"),
        ("locate_tta", 3, "locate_tta"),
        ("inputs", [], "inputs"),
    ],
)
def test_any_other_shape_is_one_weights_error_naming_file_and_field(tmp_path, path, value, field):
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(_with(path, value)))
    with pytest.raises(WeightsError) as e:
        Manifest.from_file(p)
    assert str(p) in str(e.value) and f"field '{field}'" in str(e.value)


@pytest.mark.parametrize("data", [[], "manifest", 3, None])
def test_top_level_must_be_an_object(tmp_path, data):
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(data))
    with pytest.raises(WeightsError, match=r"manifest.json: field '\(top level\)': expected a JSON object"):
        weights.read_manifest(tmp_path)


@pytest.mark.parametrize("name", ["../outside/x.onnx", "/etc/passwd", "sub/x.onnx", "..\\x.onnx", "C:x.onnx", "..", ""])
def test_file_names_stay_inside_the_weights_folder(tiny_weights, tmp_path, name):
    w = tmp_path / "w"
    shutil.copytree(tiny_weights, w)
    m = json.loads((w / "manifest.json").read_text())
    m["files"][name] = m["files"].pop("mrn.onnx")
    m["stages"]["mrn"] = name
    (w / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(WeightsError, match="a plain file name inside the weights folder"):
        weights.resolve(str(w))


def test_uppercase_sha256_is_valid(tiny_weights, tmp_path):
    w = tmp_path / "w"
    shutil.copytree(tiny_weights, w)
    m = json.loads((w / "manifest.json").read_text())
    for f in m["files"].values():
        f["sha256"] = f["sha256"].upper()
    (w / "manifest.json").write_text(json.dumps(m))
    assert weights.resolve(str(w)).manifest.files["mrn.onnx"].sha256.islower()


def test_version_is_the_package_version(tiny_weights):
    assert weights.resolve(str(tiny_weights)).manifest.version == semhm_models.__version__
    tomllib = pytest.importorskip("tomllib")

    from tests.conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "semhm_models.__version__"}


def test_old_manifests_without_optional_fields_load(tmp_path):
    d = {k: v for k, v in BUNDLED.items() if k not in ("mpn_tta", "qun_masks", "inputs", "precisions")}
    m = Manifest.from_dict(d, tmp_path / "manifest.json")
    assert (m.mpn_tta, m.qun_masks, m.inputs, m.precisions) == ("none", "all", {}, {})
