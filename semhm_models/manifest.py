"""The weights manifest, typed: ``manifest.json`` read into a frozen dataclass and written back.

Every field is checked where it is read; any other shape (a missing field, a file entry that is not
``{"sha256": ..., "bytes": ...}``, stages given as a list, a top-level list, a file name with a path in
it) is refused with one :class:`WeightsError` that names the manifest file and the field.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semhm_models.chain import QUN_MASKS, QunMasks
from semhm_models.contracts import LOCATE, MPN_INPUTS, MPN_TTA, STAGES
from semhm_models.errors import WeightsError

MANIFEST = "manifest.json"
FORMAT = "semhm-weights/1"
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# fields with a meaning to the runtime; everything else (training, licences, metrics, ...) is kept in ``info``
_TYPED = ("format", "name", "version", "inputs", "mpn_input", "mpn_tta", "locate_tta", "qun_masks", "stages", "precisions", "files")


@dataclass(frozen=True)
class FileEntry:
    """One listed file: its sha256 (64 hex digits, stored lowercase) and its size in bytes."""

    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    """``manifest.json`` of a weights folder.

    - ``stages``: stage ("mpn", "qun", "mrn", and optionally "locate", ``contracts.LOCATE``) -> float32 ONNX file name;
    - ``precisions``: other precisions' files, e.g. {"fp16": {"mpn": "mpn.fp16.onnx", ...}};
    - ``files``: every listed file name (a plain name inside the folder) -> :class:`FileEntry`;
    - ``mpn_input``: how MPN and QUN take the photo, one of ``contracts.MPN_INPUTS``: "aspect" (its own
      aspect ratio) or "fixed" (squeezed to 192x160; the default, for weights from before aspect-keeping);
    - ``mpn_tta``: the passes averaged inside mpn.onnx (e.g. "flip-scale"; "none" when absent);
    - ``locate_tta``: the passes inside locate.onnx, where there is one: "none" (one pass; the runtime runs
      ``contracts.LOCATE_TTA``, see ``contracts.LOCATE``) or another of ``contracts.MPN_TTA`` (the runtime runs the
      graph once); None when absent (session 9's weights, exported with ``mpn_tta``'s passes: run once, as then);
    - ``qun_masks``: which masks QUN unifies, one of ``chain.QUN_MASKS`` ("all" when absent);
    - ``inputs``: the input contract as exported (informative);
    - ``info``: the rest (training, licences, metrics, exported_from, ...), kept as written.
    """

    format: str
    name: str
    version: str
    stages: dict[str, str]
    files: dict[str, FileEntry]
    precisions: dict[str, dict[str, str]] = field(default_factory=dict)
    mpn_tta: str = "none"
    locate_tta: str | None = None
    qun_masks: QunMasks = "all"
    mpn_input: str = "fixed"
    inputs: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def file(self, stage: str, precision: str = "fp32") -> str:
        """The file name of ``stage`` in ``precision`` ("fp32" or a key of ``precisions``; the optional "locate"
        falls back to its float32 file); KeyError if absent."""
        if precision == "fp32" or (stage == LOCATE and stage not in self.precisions[precision]):
            return self.stages[stage]
        return self.precisions[precision][stage]

    @classmethod
    def from_dict(cls, data: Any, where: str | os.PathLike = MANIFEST) -> Manifest:
        """Check and type ``data`` (parsed JSON). Raises WeightsError naming ``where`` and the field."""
        return _parse(data, str(where))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Manifest:
        """Read ``path`` (a manifest.json). Raises WeightsError when it is missing, not JSON, or of another shape."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WeightsError(f"{p}: no manifest; a weights folder needs {MANIFEST} beside its ONNX files") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WeightsError(f"{p}: unreadable manifest: {e}") from None
        return _parse(data, str(p))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, fields in the order export has always written them."""
        return {
            "format": self.format,
            "name": self.name,
            "version": self.version,
            "inputs": self.inputs,
            **({"mpn_input": self.mpn_input} if self.mpn_input != "fixed" else {}),
            "mpn_tta": self.mpn_tta,
            **({"locate_tta": self.locate_tta} if self.locate_tta is not None else {}),
            "qun_masks": self.qun_masks,
            **self.info,
            "stages": self.stages,
            **({"precisions": self.precisions} if self.precisions else {}),
            "files": {n: {"sha256": f.sha256, "bytes": f.bytes} for n, f in self.files.items()},
        }

    def write(self, path: str | os.PathLike) -> None:
        """Write the manifest as indented JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


def plain_name(name: str) -> bool:
    """A file name with no folder part: no '/', '\\', '..', '.', drive or absolute path."""
    return bool(name) and "/" not in name and "\\" not in name and ":" not in name and name not in (".", "..")


def _parse(data: Any, where: str) -> Manifest:
    def bad(fld: str, expected: str, got: Any) -> WeightsError:
        shown = json.dumps(got, default=str)[:80] if not isinstance(got, _Missing) else "nothing"
        return WeightsError(f"{where}: field '{fld}': expected {expected}, got {shown}")

    if not isinstance(data, dict):
        raise bad("(top level)", "a JSON object", data)

    def get(key: str, default: Any = None) -> Any:
        return data.get(key, _MISSING if default is None else default)

    def text(key: str, default: str | None = None) -> str:
        v = get(key, default)
        if not isinstance(v, str) or not v:
            raise bad(key, "a non-empty string", v)
        return v

    def name_map(fld: str, v: Any) -> dict[str, str]:
        if not isinstance(v, dict):
            raise bad(fld, f"an object with a file name for each of {', '.join(STAGES)}", v)
        for stage in STAGES:
            if not isinstance(v.get(stage), str):
                raise bad(f"{fld}.{stage}", "a file name", v.get(stage, _MISSING))
        extra = set(v) - {*STAGES, LOCATE}
        if extra:
            raise bad(f"{fld}.{sorted(extra)[0]}", f"only the stages {', '.join(STAGES)} and {LOCATE}", v[sorted(extra)[0]])
        if not isinstance(v.get(LOCATE, ""), str):
            raise bad(f"{fld}.{LOCATE}", "a file name", v[LOCATE])
        return dict(v)

    fmt = text("format")
    if fmt != FORMAT:
        raise bad("format", repr(FORMAT), fmt)
    files_raw = get("files")
    if not isinstance(files_raw, dict) or not files_raw:
        raise bad("files", 'an object {"<file name>": {"sha256": ..., "bytes": ...}}', files_raw)
    files = {}
    for n, entry in files_raw.items():
        if not plain_name(n):
            raise bad(f"files.{n}", "a plain file name inside the weights folder (no folders, '..' or absolute paths)", n)
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"]):
            raise bad(f"files.{n}.sha256", "64 hexadecimal digits", entry.get("sha256", _MISSING) if isinstance(entry, dict) else entry)
        size = entry.get("bytes", _MISSING)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise bad(f"files.{n}.bytes", "a size in bytes (a whole number >= 0)", size)
        files[n] = FileEntry(entry["sha256"].lower(), size)
    stages = name_map("stages", get("stages"))
    prec_raw = get("precisions", {})
    if not isinstance(prec_raw, dict):
        raise bad("precisions", 'an object {"fp16": {"mpn": ..., "qun": ..., "mrn": ...}}', prec_raw)
    precisions = {p: name_map(f"precisions.{p}", v) for p, v in prec_raw.items()}
    for fld, names in [("stages", stages), *((f"precisions.{p}", v) for p, v in precisions.items())]:
        for stage, n in names.items():
            if n not in files:
                raise bad(f"{fld}.{stage}", "a file listed under 'files'", n)
    qun = text("qun_masks", "all")
    if qun not in QUN_MASKS:
        raise bad("qun_masks", " or ".join(QUN_MASKS), qun)
    mpn_input = text("mpn_input", "fixed")
    if mpn_input not in MPN_INPUTS:
        raise bad("mpn_input", " or ".join(MPN_INPUTS), mpn_input)
    ttas = {}
    for fld in ("mpn_tta", "locate_tta"):
        ttas[fld] = text(fld, "none") if fld in data or fld == "mpn_tta" else None
        if ttas[fld] is not None and ttas[fld] not in MPN_TTA:
            raise bad(fld, " or ".join(MPN_TTA), ttas[fld])
    inputs = get("inputs", {})
    if not isinstance(inputs, dict):
        raise bad("inputs", "an object", inputs)
    return Manifest(
        format=fmt,
        name=text("name"),
        version=text("version"),
        stages=stages,
        files=files,
        precisions=precisions,
        mpn_tta=ttas["mpn_tta"],
        locate_tta=ttas["locate_tta"] if LOCATE in stages else None,
        qun_masks=qun,  # type: ignore[arg-type]
        mpn_input=mpn_input,
        inputs=inputs,
        info={k: v for k, v in data.items() if k not in _TYPED},
    )


class _Missing:
    pass


_MISSING = _Missing()
