"""Where the weights come from, and the check that they are the ones the manifest names.

A weights folder holds ``manifest.json`` and the ONNX files it lists, each with its sha256. ``source``:

- ``None``: the bundled default inside the package (works offline on a fresh install);
- a local folder, or the path of a ``manifest.json`` in one;
- ``hf://org/name@revision``: fetched with huggingface_hub into its cache (a full commit hash pins it and
  works offline once cached; HF_HUB_OFFLINE=1 forces the cache).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from semhm_models import __version__
from semhm_models.chain import QUN_MASKS  # noqa: F401 - the manifest's qun_masks values, as train/cli imports them
from semhm_models.errors import WeightsError
from semhm_models.manifest import FORMAT, MANIFEST, Manifest

BUNDLED = Path(__file__).parent / "weights" / "default"


@dataclass(frozen=True)
class Weights:
    """A verified weights folder: ``folder``, its typed ``manifest`` and the ``source`` it came from (for messages)."""

    folder: Path
    manifest: Manifest
    source: str

    @property
    def precisions(self) -> tuple[str, ...]:
        """ "fp32" always; "fp16" where the folder also holds half-precision files (for GPUs)."""
        return ("fp32", *self.manifest.precisions)

    def path(self, stage: str, precision: str = "fp32") -> Path:
        """The ONNX file of ``stage`` ("mpn", "qun", "mrn") in ``precision``. Raises WeightsError for a
        precision this folder does not have."""
        if precision not in self.precisions:
            raise WeightsError(f"{self.source}: no {precision} files (this folder has {', '.join(self.precisions)})")
        return self.folder / self.manifest.file(stage, precision)


def sha256(path: str | os.PathLike) -> str:
    """The lowercase hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(folder: Path) -> Manifest:
    """The typed manifest of ``folder``. Raises WeightsError (naming the file and the field) for a missing,
    unreadable or malformed manifest."""
    return Manifest.from_file(Path(folder) / MANIFEST)


def verify(folder: Path, manifest: Manifest) -> None:
    """Every listed file exists with its size and sha256; otherwise raise WeightsError naming the file."""
    for name, info in manifest.files.items():
        p = folder / name
        if not p.is_file():
            raise WeightsError(f"{p}: missing (listed in {folder / MANIFEST})")
        size = p.stat().st_size
        if size != info.bytes:
            raise WeightsError(f"{p}: {size} bytes, manifest says {info.bytes}: truncated or replaced; download it again")
        digest = sha256(p)
        if digest != info.sha256:
            raise WeightsError(
                f"{p}: sha256 {digest[:12]}... does not match the manifest's {info.sha256[:12]}...: corrupt or tampered; download it again"
            )


def parse_hf(source: str) -> tuple[str, str]:
    """'hf://org/name@rev' -> ('org/name', 'rev'); revision defaults to 'main'."""
    body = source[len("hf://") :]
    repo, _, rev = body.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise WeightsError(f"{source}: expected hf://org/name[@revision]")
    return repo, rev or "main"


def fetch_hf(source: str, cache_dir: str | None = None) -> Path:
    """Download manifest + listed files of ``source`` with huggingface_hub; returns the snapshot folder."""
    repo, rev = parse_hf(source)
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as e:  # pragma: no cover - a core dependency
        raise WeightsError(f"huggingface_hub is needed for {source}: {e}") from None
    try:
        manifest_path = Path(hf_hub_download(repo, MANIFEST, revision=rev, cache_dir=cache_dir))
        manifest = read_manifest(manifest_path.parent)
        for name in manifest["files"]:
            hf_hub_download(repo, name, revision=rev, cache_dir=cache_dir)
    except LocalEntryNotFoundError as e:
        if isinstance(e.__cause__, HfHubHTTPError):  # the Hub answered, with an error
            raise WeightsError(f"{source}: download failed: {str(e.__cause__).splitlines()[0]}") from None
        raise WeightsError(f"{source}: not in the local cache and the Hub cannot be reached (offline?): {e}") from None
    except (HfHubHTTPError, OSError, ValueError) as e:
        raise WeightsError(f"{source}: download failed: {e}") from None
    return manifest_path.parent


def resolve(source: str | os.PathLike | None = None, cache_dir: str | None = None) -> Weights:
    """Find, fetch if needed, and verify the weights named by ``source``."""
    if source is None or source == "default":
        folder, label = BUNDLED, "bundled default"
        if not (folder / MANIFEST).exists():
            raise WeightsError(f"{folder}: the bundled default weights are missing from this install")
    elif isinstance(source, str) and source.startswith("hf://"):
        folder, label = fetch_hf(source, cache_dir), source
    else:
        p = Path(source)
        folder = p.parent if p.name == MANIFEST else p
        label = str(p)
        if not folder.is_dir():
            raise WeightsError(
                f"{p}: no such weights folder (give a folder with {MANIFEST}, hf://org/name@rev, or nothing for the bundled default)"
            )
    manifest = read_manifest(folder)
    verify(folder, manifest)
    return Weights(folder, manifest, label)


def write_manifest(folder: Path, stages: dict[str, str], extra: dict, precisions: dict[str, dict[str, str]] | None = None) -> Manifest:
    """Write ``manifest.json`` for the ONNX files in ``folder`` (used by export) and return it. ``stages``: the
    float32 files; ``precisions``: other precisions' files, e.g. {"fp16": {"mpn": "mpn.fp16.onnx", ...}};
    ``extra``: the other fields (name, inputs, mpn_tta, qun_masks, training, ...). The version is this
    package's ``__version__``. Raises WeightsError when the result is not a valid manifest."""
    names = [*stages.values(), *(n for p in (precisions or {}).values() for n in p.values())]
    files = {name: {"sha256": sha256(folder / name), "bytes": (folder / name).stat().st_size} for name in names}
    data = {
        "format": FORMAT,
        "name": "semhm",
        **extra,
        "version": __version__,
        "stages": stages,
        "precisions": precisions or {},
        "files": files,
    }
    manifest = Manifest.from_dict(data, folder / MANIFEST)
    manifest.write(folder / MANIFEST)
    return manifest
