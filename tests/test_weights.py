"""Weights: local folders, the sha256 manifest, tampering, and hf:// through the real huggingface_hub
client against a hub on 127.0.0.1 (cache, pinned revision, offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from semhm_models import weights
from semhm_models.errors import WeightsError
from tests.conftest import ROOT
from tests.hubserver import Hub


def copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_local_folder_and_manifest_path(tiny_weights):
    w = weights.resolve(str(tiny_weights))
    assert w.path("mrn").name == "mrn.onnx" and w.path("mrn", "fp16").name == "mrn.fp16.onnx"
    assert w.precisions == ("fp32", "fp16")
    assert weights.resolve(str(tiny_weights / "manifest.json")).folder == tiny_weights
    m = json.loads((tiny_weights / "manifest.json").read_text())
    assert m["format"] == "semhm-weights/1"
    assert set(m["files"]) == {f"{s}{p}.onnx" for s in ("mpn", "qun", "mrn") for p in ("", ".fp16")}
    assert all(len(f["sha256"]) == 64 for f in m["files"].values())


def test_tampered_and_truncated_files_are_refused(tiny_weights, tmp_path):
    w = copy(tiny_weights, tmp_path / "t")
    data = bytearray((w / "qun.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (w / "qun.onnx").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="qun.onnx: sha256 .* corrupt or tampered"):
        weights.resolve(str(w))
    w2 = copy(tiny_weights, tmp_path / "u")
    (w2 / "mrn.onnx").write_bytes((w2 / "mrn.onnx").read_bytes()[:1000])
    with pytest.raises(WeightsError, match="mrn.onnx: 1000 bytes, manifest says .*truncated"):
        weights.resolve(str(w2))
    (w2 / "mrn.onnx").unlink()
    with pytest.raises(WeightsError, match="mrn.onnx: missing"):
        weights.resolve(str(w2))


def test_unknown_qun_masks_is_refused(tiny_weights, tmp_path):
    w = copy(tiny_weights, tmp_path / "q")
    m = json.loads((w / "manifest.json").read_text())
    (w / "manifest.json").write_text(json.dumps(m | {"qun_masks": "some"}))
    with pytest.raises(WeightsError, match="manifest.json: field 'qun_masks': expected all or coarse or none, got \"some\""):
        weights.resolve(str(w))


def test_bad_sources(tmp_path):
    with pytest.raises(WeightsError, match="no such weights folder"):
        weights.resolve(str(tmp_path / "nothing"))
    with pytest.raises(WeightsError, match="no manifest"):
        weights.resolve(str(tmp_path))
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(WeightsError, match="unreadable manifest"):
        weights.resolve(str(tmp_path))
    with pytest.raises(WeightsError, match="expected hf://org/name"):
        weights.parse_hf("hf://justaname")


def test_bundled_default_is_present_and_verified():
    w = weights.resolve(None)
    assert w.source == "bundled default"
    m = w.manifest
    # small enough to keep every version in git: 6.2 MB for the three stages in fp32 and fp16, 3.5 MB for the locator
    assert sum(f.bytes for f in m.files.values()) < 10_000_000
    assert set(m.info["metrics"]["validation"]) >= {"sad", "mse", "grad", "conn"}
    assert "CCP" in json.dumps(m.info["licences"]) and m.info["training"]["commands"]


def _env(hub_url: str, cache) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=hub_url, HF_HUB_CACHE=str(cache), HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1")
    return env


def _semhm(args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semhm_models.cli", *args], env=env, capture_output=True, text=True, timeout=120)


def test_hf_download_pinned_cached_and_offline(tiny_weights, tmp_path, photo):
    files = {p.name: p.read_bytes() for p in tiny_weights.iterdir()}
    with Hub() as hub:
        sha = hub.commit("semhm/tiny", files)
        env = _env(hub.url, tmp_path / "cache")
        r = _semhm(["download", f"hf://semhm/tiny@{sha}"], env)
        assert r.returncode == 0, r.stderr
        assert "verified 6 files" in r.stdout
        assert any(q.startswith("GET /semhm/tiny/resolve/") for q in hub.requests)
        # a moved branch does not change a pinned revision
        hub.commit("semhm/tiny", {"mrn.onnx": b"garbage"})
        r = _semhm(["matte", str(photo), "-o", str(tmp_path / "o1"), "--model", f"hf://semhm/tiny@{sha}", "--provider", "cpu"], env)
        assert r.returncode == 0, r.stderr
        # the branch now serves a file that fails the manifest check: refused, by name
        r = _semhm(["download", "hf://semhm/tiny@main"], env)
        assert r.returncode == 1 and "mrn.onnx" in r.stderr and "manifest" in r.stderr
        r = _semhm(["download", "hf://semhm/missing@main"], env)
        assert r.returncode == 1 and "download failed" in r.stderr
    # the server is gone: the pinned, cached weights still work offline
    env["HF_HUB_OFFLINE"] = "1"
    r = _semhm(["matte", str(photo), "-o", str(tmp_path / "o2"), "--model", f"hf://semhm/tiny@{sha}", "--provider", "cpu"], env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o2" / "photo.png").exists()
    r = _semhm(["download", "hf://semhm/never-fetched@main"], env)
    assert r.returncode == 1 and "not in the local cache" in r.stderr


@pytest.mark.parametrize(
    "source",
    [
        "hf://org/name@../../outside",
        "hf://org/name@main/../../x",
        "hf://org/name@/abs",
        "hf://org/name@a\\b",
        "hf://org/name@a//b",
        "hf://org/na..me",
        "hf://org--x/name",
        "hf://a/b/c",
        "hf://justaname",
        "hf://org/name.git",
    ],
)
def test_hf_repo_ids_and_revisions_are_checked(source):
    with pytest.raises(WeightsError, match="expected hf://org/name|revision"):
        weights.parse_hf(source)


def test_hf_sources_parse():
    assert weights.parse_hf("hf://org/name") == ("org/name", "main")
    assert weights.parse_hf("hf://org/name@refs/pr/1") == ("org/name", "refs/pr/1")
    assert weights.parse_hf("org/name", revision="v1") == ("org/name", "v1")
    with pytest.raises(WeightsError, match="two revisions"):
        weights.parse_hf("hf://org/name@a", revision="b")


def _py(code: str, env, cwd=None) -> subprocess.CompletedProcess:
    env = env | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_from_pretrained_org_name_with_revision_and_local_path_wins(tiny_weights, tmp_path):
    files = {p.name: p.read_bytes() for p in tiny_weights.iterdir()}
    code = (
        "import sys; from semhm_models import Matter; "
        "print(Matter.from_pretrained(sys.argv[1], revision=sys.argv[2] or None, provider='cpu').weights.folder)"
    )
    with Hub() as hub:
        sha = hub.commit("semhm/tiny", files)
        env = _env(hub.url, tmp_path / "cache")
        r = _py(code.replace("sys.argv[1]", "'semhm/tiny'").replace("sys.argv[2]", repr(sha)), env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert str(tmp_path / "cache") in r.stdout and sha in r.stdout
        # a local folder of the same name wins, and then a revision is an error
        shutil.copytree(tiny_weights, tmp_path / "semhm" / "tiny")
        r = _py(code.replace("sys.argv[1]", "'semhm/tiny'").replace("sys.argv[2]", "''"), env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "semhm/tiny"
        requests = len(hub.requests)
        r = _py(code.replace("sys.argv[1]", "'semhm/tiny'").replace("sys.argv[2]", "'main'"), env, cwd=tmp_path)
        assert r.returncode == 1 and "a local folder has no revision" in r.stderr
        assert len(hub.requests) == requests


def test_traversing_revision_writes_nothing_outside_the_cache(tiny_weights, tmp_path):
    files = {p.name: p.read_bytes() for p in tiny_weights.iterdir()}
    with Hub() as hub:
        hub.commit("semhm/tiny", files)
        env = _env(hub.url, tmp_path / "c" / "cache")
        r = _py("from semhm_models import weights; weights.resolve('hf://semhm/tiny@../../../escaped')", env, cwd=tmp_path)
        assert r.returncode == 1 and "WeightsError" in r.stderr and "revision" in r.stderr
        assert not hub.requests
    assert not any(tmp_path.iterdir())  # no cache made, nothing escaped


def test_offline_download_fails_at_once(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on: connection refused, as offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _env(f"http://127.0.0.1:{port}", tmp_path / "cache")
    t0 = time.monotonic()
    r = _py("from semhm_models import weights; weights.resolve('hf://semhm/tiny@main')", env)
    assert time.monotonic() - t0 < 15  # huggingface_hub alone retries for ~25 s
    assert r.returncode == 1 and "not in the local cache and the Hub cannot be reached" in r.stderr
    assert "Retrying" not in r.stderr
