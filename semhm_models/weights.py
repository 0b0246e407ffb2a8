"""Where the weights come from, and the check that they are the ones the manifest names.

A weights folder holds ``manifest.json`` and the ONNX files it lists, each with its sha256. ``source``:

- ``None``: the bundled default inside the package (works offline on a fresh install);
- a local folder, or the path of a ``manifest.json`` in one;
- ``hf://org/name@revision``, or ``org/name`` (with ``revision=``) when no such local path exists: fetched
  with huggingface_hub into its cache (a full commit hash pins it and works offline once cached;
  HF_HUB_OFFLINE=1 forces the cache).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from semhm_models import __version__
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


def _check_revision(rev: str, source: str) -> str:
    """A branch, tag or commit: path segments only, nothing that could leave the cache folder."""
    parts = rev.split("/")
    if not rev or rev.startswith("/") or "\\" in rev or any(p in ("", ".", "..") for p in parts):
        raise WeightsError(f"{source}: revision {rev!r} is not a branch, tag or commit (no empty, '.' or '..' parts, no '\\')")
    return rev


def parse_hf(source: str, revision: str | None = None) -> tuple[str, str]:
    """'hf://org/name@rev' (or 'org/name' with ``revision``) -> ('org/name', 'rev'); the revision defaults to
    'main'. The repo id is checked by the Hub's own rules, the revision for path tricks. Raises WeightsError."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    body = source.removeprefix("hf://")
    repo, at, rev = body.partition("@")
    if at and revision is not None and rev != revision:
        raise WeightsError(f"{source}: two revisions given ({rev!r} in the source, {revision!r} as revision=)")
    try:
        validate_repo_id(repo)
    except HFValidationError as e:
        raise WeightsError(f"{source}: expected hf://org/name[@revision]: {e}") from None
    if repo.count("/") != 1:
        raise WeightsError(f"{source}: expected hf://org/name[@revision]")
    return repo, _check_revision(rev or revision or "main", source)


def fetch_hf(source: str, cache_dir: str | None = None, revision: str | None = None) -> Path:
    """Download the manifest and the files it lists of ``source`` (see :func:`parse_hf`) into the
    huggingface_hub cache; returns the snapshot folder. Offline and not cached: one WeightsError at once."""
    repo, rev = parse_hf(source, revision)
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    offline = f"{source}: not in the local cache and the Hub cannot be reached (offline?)"
    if not isinstance(try_to_load_from_cache(repo, MANIFEST, cache_dir=cache_dir, revision=rev), str) and not _hf_offline():
        # huggingface_hub retries a failed first download for ~25 s; one request without retries says at once
        try:
            get_hf_file_metadata(hf_hub_url(repo, MANIFEST, revision=rev), timeout=10)
        except HfHubHTTPError:
            pass  # the Hub answered: the download below reports what it said
        except Exception as e:  # noqa: BLE001 - no answer at all (refused, DNS, timeout) in the HTTP client's own types
            raise WeightsError(f"{offline}: {type(e).__name__}: {e}") from None
    try:
        manifest_path = Path(hf_hub_download(repo, MANIFEST, revision=rev, cache_dir=cache_dir))
        manifest = read_manifest(manifest_path.parent)
        for name in manifest.files:
            hf_hub_download(repo, name, revision=rev, cache_dir=cache_dir)
    except LocalEntryNotFoundError as e:
        if isinstance(e.__cause__, HfHubHTTPError):  # the Hub answered, with an error
            raise WeightsError(f"{source}: download failed: {str(e.__cause__).splitlines()[0]}") from None
        raise WeightsError(f"{offline}: {e}") from None
    except (HfHubHTTPError, OSError, ValueError) as e:
        raise WeightsError(f"{source}: download failed: {e}") from None
    return manifest_path.parent


def _hf_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def resolve(source: str | os.PathLike | None = None, cache_dir: str | None = None, revision: str | None = None) -> Weights:
    """Find, fetch if needed, and verify the weights named by ``source``:

    - None or "default": the bundled weights;
    - an existing local folder (or its manifest.json): that folder. An existing local path always wins;
    - "hf://org/name[@revision]", or "org/name" that is not a local path: the Hugging Face Hub, at
      ``revision`` (or the one after '@'; default "main"; a full commit hash pins it and works offline
      once cached).

    Raises WeightsError when the weights cannot be found, fetched or verified."""
    if source is None or source == "default":
        folder, label = BUNDLED, "bundled default"
        if not (folder / MANIFEST).exists():
            raise WeightsError(f"{folder}: the bundled default weights are missing from this install")
    elif isinstance(source, str) and (source.startswith("hf://") or (not os.path.exists(source) and _repo_like(source))):
        try:
            folder, label = fetch_hf(source, cache_dir, revision), source
        except WeightsError as e:
            raise WeightsError(f"{e} (and there is no local folder of that name)" if not source.startswith("hf://") else str(e)) from None
    else:
        p = Path(source)
        folder = p.parent if p.name == MANIFEST else p
        label = str(p)
        if not folder.is_dir():
            raise WeightsError(
                f"{p}: no such weights folder (give a folder with {MANIFEST}, hf://org/name@rev, or nothing for the bundled default)"
            )
        if revision is not None:
            raise WeightsError(f"{p}: a local folder has no revision (revision={revision!r})")
    manifest = read_manifest(folder)
    verify(folder, manifest)
    return Weights(folder, manifest, label)


def _repo_like(source: str) -> bool:
    """'org/name' or 'org/name@rev': one slash, no other path syntax (the Hub's rules are checked later)."""
    repo = source.partition("@")[0]
    return repo.count("/") == 1 and all(repo.split("/")) and not repo.startswith(".") and "\\" not in source


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
