"""onnxruntime checks and provider choice, on real sessions."""

from __future__ import annotations

from importlib import metadata

import pytest

from semhm_models import runtime
from semhm_models.errors import RuntimeSetupError


def test_cpu_session_works(tiny_weights):
    s = runtime.create_session(str(tiny_weights / "mpn.onnx"), "cpu")
    assert s.get_providers() == ["CPUExecutionProvider"]


def test_requested_gpu_that_does_not_work_is_an_error_not_a_silent_fallback(tiny_weights):
    ort = runtime.import_ort()
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA; the fallback case cannot be shown here")
    with pytest.raises(
        RuntimeSetupError, match=r"CUDAExecutionProvider is not in this onnxruntime \(onnxruntime==.*pip install 'semhm\[gpu\]'"
    ):
        runtime.create_session(str(tiny_weights / "mpn.onnx"), "cuda")


def test_working_providers_are_found_by_creating_sessions(tiny_weights):
    found = runtime.working_providers(str(tiny_weights / "mrn.onnx"))
    assert found["CPUExecutionProvider"] == "ok"


def test_unknown_provider(tiny_weights):
    with pytest.raises(RuntimeSetupError, match="choose one of auto, cpu, cuda, tensorrt"):
        runtime.create_session(str(tiny_weights / "mpn.onnx"), "tpu")


def test_both_onnxruntime_packages_installed_is_explained(monkeypatch):
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda n: "1.0" if n in ("onnxruntime", "onnxruntime-gpu") else real(n))
    with pytest.raises(RuntimeSetupError, match="several onnxruntime packages.*pip uninstall -y onnxruntime onnxruntime-gpu"):
        runtime.import_ort()


def test_no_onnxruntime_is_explained(monkeypatch):
    import builtins
    import sys

    monkeypatch.setattr(runtime, "installed_ort", lambda: [])
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    real_import = builtins.__import__

    def no_ort(name, *a, **k):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    with pytest.raises(RuntimeSetupError, match=r"pip install 'semhm\[cpu\]'"):
        runtime.import_ort()


def test_fallback_from_gpu_resolves_provider_then_precision_then_opens_each_session_once(tiny_weights, monkeypatch, recwarn):
    """provider 'auto' expecting a GPU that does not work: one MPN session shows the fallback, the precision
    becomes fp32, and MPN (again, in fp32), QUN, MRN and the guided filter open once each on the CPU, with one warning."""
    from semhm_models import Matter, api

    monkeypatch.setattr(runtime, "provider_list", lambda p: ["CUDAExecutionProvider", runtime.CPU] if p == "auto" else [runtime.CPU])
    monkeypatch.setattr(api, "provider_list", runtime.provider_list)
    opened = []
    real = runtime.create_session

    def counting(path, provider="auto", threads=None, arena="on", optimization="all"):
        opened.append((path.rsplit("/", 1)[1], provider))
        return real(path, provider, threads, arena, optimization)

    monkeypatch.setattr(api, "create_session", counting)
    m = Matter.from_pretrained(str(tiny_weights), provider="auto", threads=1)
    assert (m.provider, m.precision, m.device) == (runtime.CPU, "fp32", "cpu")
    assert opened == [("mpn.fp16.onnx", "auto"), ("mpn.onnx", "cpu"), ("qun.onnx", "cpu"), ("mrn.onnx", "cpu"), ("guided.onnx", "cpu")]
    assert len([w for w in recwarn if "fell back to CPU" in str(w.message)]) == 1


def test_cpu_opens_one_session_per_graph(tiny_weights, monkeypatch):
    from semhm_models import Matter, api

    opened = []
    real = runtime.create_session
    monkeypatch.setattr(api, "create_session", lambda path, *a, **k: opened.append(path) or real(path, *a, **k))
    Matter.from_pretrained(str(tiny_weights), provider="cpu", threads=1)
    assert [p.rsplit("/", 1)[1] for p in opened] == ["mpn.onnx", "qun.onnx", "mrn.onnx", "guided.onnx"]


def test_mrn_and_the_guided_filter_run_without_nchwc_layouts(tiny_weights):
    """MRN's convolutions ran 1.5x slower in onnxruntime's NCHWc layouts wherever a side was 496 px (session 11)."""
    from semhm_models import Matter

    ort = runtime.import_ort()
    m = Matter.from_pretrained(str(tiny_weights), provider="cpu", threads=1)
    level = {k: s.get_session_options().graph_optimization_level for k, s in m.sessions.items()}
    assert level["mrn"] == level["guided"] == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert level["mpn"] == level["qun"] == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with pytest.raises(ValueError, match="optimization 'fast': choose all, extended"):
        runtime.session_options(optimization="fast")
