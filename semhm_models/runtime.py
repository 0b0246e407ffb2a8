"""onnxruntime, in one place: the import check, provider choice, sessions, and loud diagnostics."""

from __future__ import annotations

import functools
import sys
import warnings
from importlib import metadata

from semhm_models.contracts import MPN_MASK_OLD, OUTPUTS
from semhm_models.errors import RuntimeSetupError
from semhm_models.options import PROVIDER_CHOICES, env_threads

CPU = "CPUExecutionProvider"
_ORT_DISTS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino")


def installed_ort() -> list[str]:
    """The onnxruntime distributions installed, as "name==version" strings (none, one, or a conflict)."""
    found = []
    for name in _ORT_DISTS:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return found


def import_ort():
    """Import onnxruntime, or say exactly what is wrong with the install.

    Raises RuntimeSetupError when it is missing or when several onnxruntime packages share its folder."""
    found = installed_ort()
    if len(found) > 1:
        raise RuntimeSetupError(
            f"several onnxruntime packages are installed ({', '.join(found)}); they share one import folder and the "
            "last one installed wins silently. Fix: pip uninstall -y "
            + " ".join(f.split("==")[0] for f in found)
            + " && pip install 'semhm[cpu]' (or 'semhm[gpu]')"
        )
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise RuntimeSetupError(f"onnxruntime is not installed ({e}): pip install 'semhm[cpu]', or 'semhm[gpu]' for NVIDIA GPUs") from None
    _preload_cuda(ort)
    return ort


@functools.cache
def _preload_cuda(ort) -> None:
    """With onnxruntime-gpu, load the CUDA and cuDNN libraries that `semhm[gpu]` installs from PyPI (the
    nvidia-* packages), once, before any session: the CUDA provider does not find them there by itself
    (onnxruntime's documented `preload_dlls`, onnxruntime-gpu >= 1.21). Missing libraries are not an error
    here: the session then falls back, and that is reported where the provider is chosen."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None and gpu_expected():
        try:
            preload()
        except Exception:  # noqa: BLE001 - best effort; the provider check below says what works
            pass


def gpu_expected() -> bool:
    """onnxruntime-gpu is installed: the user means to run on the GPU."""
    return any(f.startswith("onnxruntime-gpu==") for f in installed_ort())


def provider_list(provider: str) -> list[str]:
    """onnxruntime's provider names, in order of preference, for a choice of ``PROVIDER_CHOICES`` ("auto":
    CUDA when onnxruntime lists it, else CPU). Raises RuntimeSetupError for another choice."""
    if provider not in PROVIDER_CHOICES:
        raise RuntimeSetupError(f"provider '{provider}': choose one of {', '.join(PROVIDER_CHOICES)}")
    if provider == "cpu":
        return [CPU]
    if provider == "tensorrt":
        return ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU]
    if provider == "cuda" or (provider == "auto" and "CUDAExecutionProvider" in import_ort().get_available_providers()):
        return ["CUDAExecutionProvider", CPU]
    return [CPU]


OPTIMIZATIONS = ("all", "extended")


def session_options(threads: int | None = None, arena: str = "on", optimization: str = "all"):
    """onnxruntime session options: graph optimisations, quiet logs, ``threads`` intra-op CPU threads
    (None: ``SEMHM_THREADS`` or all cores). ``arena``: "on" (fast: 2.5x at 1080p on CPU) or "off" (for very
    large images: the arena keeps the largest image's peak allocated, 5.6 GB at 4K against 1.5 GB without).
    ``optimization``: "all" (every one onnxruntime has, the CPU's blocked NCHWc layouts included) or "extended"
    (all but those layouts: MRN ran 1.5x slower in them wherever a side was 496 px, and no faster elsewhere;
    MPN ran faster in them; docs/benchmarks.md, session 11).

    Raises RuntimeSetupError (onnxruntime missing) and ValueError (a bad ``SEMHM_THREADS`` or ``optimization``)."""
    if optimization not in OPTIMIZATIONS:
        raise ValueError(f"optimization {optimization!r}: choose {', '.join(OPTIMIZATIONS)}")
    ort = import_ort()
    so = ort.SessionOptions()
    levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}
    so.graph_optimization_level = levels[optimization]
    so.log_severity_level = 3
    # Each session has its own thread pool, whose threads by default spin for a while after every run and
    # take the cores from the next stage's session: MRN at 512x512 after MPN took 40 ms instead of 23 on
    # 2 cores (docs/benchmarks.md). Sleeping threads cost nothing measurable inside one session.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if arena == "off":
        so.enable_cpu_mem_arena = False
        so.enable_mem_pattern = False
    threads = threads or env_threads()
    if threads:
        so.intra_op_num_threads = threads
    return so


def create_session(path: str, provider: str = "auto", threads: int | None = None, arena: str = "on", optimization: str = "all"):
    """An onnxruntime session for the ONNX file ``path`` on ``provider`` (a ``PROVIDER_CHOICES`` value), as
    :func:`session_options` sets it up. An expected GPU (onnxruntime-gpu installed, provider 'auto') that
    falls back to CPU is a loud warning (RuntimeWarning and a line on stderr).

    Raises RuntimeSetupError when onnxruntime cannot load the file, or a requested "cuda"/"tensorrt" falls
    back to the CPU."""
    ort = import_ort()
    wanted = provider_list(provider)
    try:
        with warnings.catch_warnings():  # onnxruntime's own "not in available provider names": ours below says it better
            warnings.filterwarnings("ignore", message="Specified provider", category=UserWarning)
            sess = ort.InferenceSession(str(path), sess_options=session_options(threads, arena, optimization), providers=wanted)
    except Exception as e:  # onnxruntime raises its own exception types
        raise RuntimeSetupError(f"{path}: onnxruntime could not load the model with {wanted}: {e}") from None
    got = sess.get_providers()[0]
    if wanted[0] != CPU and got == CPU:
        msg = f"{wanted[0]} does not work here; the session fell back to CPU (run `semhm doctor`)"
        if provider != "auto" and wanted[0] not in ort.get_available_providers():  # a CPU-only onnxruntime, not a broken GPU
            msg = (
                f"{wanted[0]} is not in this onnxruntime ({', '.join(installed_ort()) or 'onnxruntime'}): install onnxruntime-gpu "
                "in its place (pip uninstall onnxruntime, then pip install 'semhm[gpu]', or -e '.[gpu]' in a checkout)"
            )
        if provider in ("cuda", "tensorrt"):
            raise RuntimeSetupError(msg + ". Choose provider 'cpu' (--provider cpu) to run on the CPU on purpose.")
        warnings.warn("semhm: " + msg, RuntimeWarning, stacklevel=2)
        print("semhm: WARNING: " + msg, file=sys.stderr)
    elif provider == "auto" and gpu_expected() and got == CPU:
        msg = "onnxruntime-gpu is installed but no GPU provider works; running on CPU (run `semhm doctor`)"
        warnings.warn("semhm: " + msg, RuntimeWarning, stacklevel=2)
        print("semhm: WARNING: " + msg, file=sys.stderr)
    return sess


def working_providers(model_path: str) -> dict[str, str]:
    """Each provider onnxruntime lists, tried by creating a real session on ``model_path``: provider name ->
    "ok", "fell back to ..." or "fails: <reason>". Raises RuntimeSetupError when onnxruntime is missing."""
    ort = import_ort()
    out = {}
    for name in ort.get_available_providers():
        try:
            s = ort.InferenceSession(str(model_path), sess_options=session_options(), providers=[name])
            out[name] = "ok" if s.get_providers()[0] == name else f"fell back to {s.get_providers()[0]}"
        except Exception as e:  # noqa: BLE001 - every failure is a diagnosis here
            out[name] = f"fails: {str(e).splitlines()[0][:160]}"
    return out


def mpn_mask_output(session) -> str:
    """The name of an mpn.onnx session's one-channel foreground-mask output: "fg_mask", or "fg" in files
    exported before the rename."""
    names = {o.name for o in session.get_outputs()}
    return OUTPUTS["mpn"][1] if OUTPUTS["mpn"][1] in names else MPN_MASK_OLD
