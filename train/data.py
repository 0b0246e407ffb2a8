"""Training data: source layouts, the build-fine step, the cached arrays, compositing and degradations.

Layouts a source may have (``root`` is its folder):

- ``ccp``: ``images/<id>.jpg`` + ``labels/<id>.png``; person = label > 0, hair = label == 19.
- ``coarse``: ``images/<id>.*`` + ``masks/<id>.png``; person = mask > 127.
- ``fine``: ``alpha/<id>.png`` + ``images/<id>.*`` (foreground colours estimated) or ``fg/<id>.*``.
- ``backgrounds``: any image files.

Everything is resized once to the config's ``resolution`` and cached as uint8 arrays under the cache
folder, so training spends its time on the networks, not on decoding.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from semhm_models.images import IMAGE_EXTS
from semhm_models.processing import cover, to_uint8
from semhm_models.progress import progress

HAIR_LABEL = 19


class DataError(ValueError):
    """A dataset file is missing, unreadable or does not match its partner."""


@dataclass(frozen=True)
class Source:
    layout: str
    root: Path


def load_config(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read config: {e}") from e
    for key in ("resolution", "sources", "fine", "coarse", "val", "backgrounds"):
        if key not in cfg:
            raise DataError(f"{path}: config lacks '{key}'")
    return cfg


def source_of(cfg: dict, name: str) -> Source:
    """A source's layout and folder; a root starting with ``$DATA/`` is under $SEMHM_DATA (default
    ../shared/data)."""
    if name not in cfg["sources"]:
        raise DataError(f"config names source '{name}' but does not define it")
    spec = cfg["sources"][name]
    root = spec["root"]
    if root.startswith("$DATA/"):
        root = os.path.join(os.environ.get("SEMHM_DATA", "../shared/data"), root[len("$DATA/") :])
    if spec["layout"] not in ("ccp", "coarse", "fine", "backgrounds"):
        raise DataError(f"source '{name}': unknown layout '{spec['layout']}'")
    return Source(spec["layout"], Path(root))


def find_image(folder: Path, stem: str) -> Path:
    for ext in IMAGE_EXTS:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    raise DataError(f"{folder}/{stem}.*: missing file")


def list_ids(src: Source) -> list[str]:
    folder = {"ccp": "images", "coarse": "images", "fine": "alpha", "backgrounds": "."}[src.layout]
    d = src.root / folder
    if not d.is_dir():
        raise DataError(f"{d}: folder not found for layout '{src.layout}'")
    return sorted(p.stem for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS)


def _open(path: Path, mode: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable image: {e}") from e


def _raw(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable label image: {e}") from e


def _resize(a: np.ndarray, hw: tuple[int, int], resample=Image.BILINEAR) -> np.ndarray:
    if a.shape[:2] == tuple(hw):
        return a
    return np.asarray(Image.fromarray(a).resize((hw[1], hw[0]), resample))


def read_person(src: Source, pid: str, hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """One person, resized to ``hw``: ``image`` (H,W,3) and ``mask`` (H,W) uint8; ``hair`` (bool) where
    known; ``alpha`` and ``fg`` for the fine layout."""
    out: dict[str, np.ndarray] = {}
    if src.layout in ("ccp", "coarse"):
        img_path = find_image(src.root / "images", pid)
        lab_path = find_image(src.root / ("labels" if src.layout == "ccp" else "masks"), pid)
        img = _open(img_path, "RGB")
        # CCP labels are class indices (mode P or L): read them raw, never through a palette.
        lab = _open(lab_path, "L") if src.layout == "coarse" else _raw(lab_path)
        if lab.shape[:2] != img.shape[:2]:
            raise DataError(f"{lab_path}: size {lab.shape[1]}x{lab.shape[0]} does not match {img_path}")
        person = lab > 0 if src.layout == "ccp" else lab > 127
        out["image"] = _resize(img, hw)
        out["mask"] = _resize(person.astype(np.uint8) * 255, hw)
        if src.layout == "ccp":
            out["hair"] = _resize((lab == HAIR_LABEL).astype(np.uint8) * 255, hw) > 127
    elif src.layout == "fine":
        alpha_path = find_image(src.root / "alpha", pid)
        alpha = _open(alpha_path, "L")
        has_fg = (src.root / "fg").is_dir()
        img_path = find_image(src.root / ("fg" if has_fg else "images"), pid)
        img = _open(img_path, "RGB")
        if alpha.shape != img.shape[:2]:
            raise DataError(f"{alpha_path}: size does not match {img_path}")
        out["image"] = _resize(img, hw)
        out["alpha"] = _resize(alpha, hw)
        out["mask"] = ((out["alpha"] > 127) * 255).astype(np.uint8)
        if has_fg:
            out["fg"] = out["image"]
    else:
        raise DataError(f"{src.root}: layout '{src.layout}' holds no persons")
    return out


def trimap_from_mask(mask: np.ndarray, band: int, hair: np.ndarray | None = None, hair_band: int = 0) -> np.ndarray:
    """float64 trimap: 1 inside the eroded mask, 0 outside the dilated mask, 0.5 in the band between.
    The outline near hair gets a wider band, since hair labels are hard where real hair is soft."""
    m = mask > 127
    st = ndi.generate_binary_structure(2, 1)
    fg = ndi.binary_erosion(m, st, iterations=band)
    bg = ~ndi.binary_dilation(m, st, iterations=band)
    if hair is not None and hair.any() and hair_band > band:
        # widen the band only along the outline near hair: hair interiors and faces stay opaque
        outline = ndi.binary_dilation(m, st, iterations=hair_band) & ~ndi.binary_erosion(m, st, iterations=hair_band)
        wide = outline & ndi.binary_dilation(hair, st, iterations=hair_band)
        fg &= ~wide
        bg &= ~wide
    tri = np.full(m.shape, 0.5)
    tri[fg] = 1.0
    tri[bg] = 0.0
    return tri


def solve_fine(image: np.ndarray, mask: np.ndarray, hair: np.ndarray | None, band: int, hair_band: int):
    """Closed-form matting from a mask-derived trimap; returns alpha and foreground as uint8."""
    from pymatting import estimate_alpha_cf, estimate_foreground_ml

    img = image.astype(np.float64) / 255.0
    tri = trimap_from_mask(mask, band, hair, hair_band)
    if (tri == 0.5).any():
        alpha = np.clip(estimate_alpha_cf(img, tri), 0.0, 1.0)
    else:
        alpha = tri
    fg = np.clip(estimate_foreground_ml(img, alpha), 0.0, 1.0)
    return to_uint8(alpha), to_uint8(fg)


def cache_dir(cfg: dict, cache: str | os.PathLike) -> Path:
    h, w = cfg["resolution"]
    return Path(cache) / f"{h}x{w}"


def build_fine(cfg: dict, cache: str | os.PathLike, limit: int | None = None) -> Path:
    """Turn the fine and validation persons' masks into alphas + foregrounds, one npz each, resumable."""
    hw = tuple(cfg["resolution"])
    out = cache_dir(cfg, cache) / "fine"
    out.mkdir(parents=True, exist_ok=True)
    fcfg = cfg.get("fine_labels", {})
    band, hair_band = int(fcfg.get("band", 3)), int(fcfg.get("hair_band", 6))
    jobs = [(split, pid) for split in ("fine", "val") for pid in cfg[split]["ids"][:limit]]
    failed = []
    for split, pid in progress(jobs, "build-fine"):
        src = source_of(cfg, cfg[split]["source"])
        dst = out / f"{cfg[split]['source']}_{pid}.npz"
        if dst.exists():
            continue
        try:
            p = read_person(src, pid, hw)
            if "alpha" in p:  # already fine: estimate foreground colours only where missing
                alpha = p["alpha"]
                fg = p.get("fg")
                if fg is None:
                    from pymatting import estimate_foreground_ml

                    fg = estimate_foreground_ml(p["image"] / 255.0, alpha / 255.0)
                    fg = to_uint8(fg)
            else:
                alpha, fg = solve_fine(p["image"], p["mask"], p.get("hair"), band, hair_band)
        except DataError as e:
            failed.append(str(e))
            continue
        tmp = dst.with_suffix(".tmp.npz")
        np.savez(tmp, image=p["image"], alpha=alpha, fg=fg)
        os.replace(tmp, dst)
    if failed:
        raise DataError(f"build-fine: {len(failed)} file(s) failed:\n  " + "\n  ".join(failed))
    return out


def load_split(cfg: dict, cache: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
    """Stacked uint8 arrays for one split. fine/val: image, alpha, fg. coarse: image, mask."""
    hw = tuple(cfg["resolution"])
    cdir = cache_dir(cfg, cache)
    name = cfg[split]["source"]
    ids = cfg[split]["ids"]
    if split == "coarse":
        packed = cdir / f"coarse_{name}_{len(ids)}.npz"
        if not packed.exists():
            src = source_of(cfg, name)
            items = [read_person(src, pid, hw) for pid in progress(ids, "cache coarse")]
            np.savez(packed, image=np.stack([i["image"] for i in items]), mask=np.stack([i["mask"] for i in items]))
        with np.load(packed) as z:
            return {k: z[k] for k in z.files}
    arrays: dict[str, list] = {"image": [], "alpha": [], "fg": []}
    for pid in ids:
        f = cdir / "fine" / f"{name}_{pid}.npz"
        if not f.exists():
            raise DataError(f"{f}: missing; run `python -m train build-fine` first")
        with np.load(f) as z:
            for k in arrays:
                arrays[k].append(z[k])
    return {k: np.stack(v) for k, v in arrays.items()}


def load_backgrounds(cfg: dict, split: str, hw: tuple[int, int] | None = None) -> np.ndarray:
    """Backgrounds of one split ('train' or 'val'), each resized to cover ``hw`` and centre-cropped."""
    hw = hw or tuple(cfg["resolution"])
    src = source_of(cfg, cfg["backgrounds"]["source"])
    out = []
    for bid in cfg["backgrounds"][split]:
        img = _open(find_image(src.root, bid), "RGB")
        out.append(cover(img, hw))
    return np.stack(out)


def composite(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """float32 composite in [0, 1] of uint8 (...,H,W,3) foreground over background with uint8 alpha."""
    a = alpha[..., None].astype(np.float32) / 255.0
    return fg.astype(np.float32) / 255.0 * a + bg.astype(np.float32) / 255.0 * (1.0 - a)


def build_val(cfg: dict, cache: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Fixed validation composites (held-out persons over held-out backgrounds) as PNG files:
    ``images/``, ``alpha/`` and ``fg/``, so that `semhm eval` and every tool can read them."""
    out = Path(out)
    if (out / "DONE").exists():
        return out
    val = load_split(cfg, cache, "val")
    bgs = load_backgrounds(cfg, "val")
    per = int(cfg.get("val_composites_per_person", 2))
    rng = np.random.default_rng(1234)
    for sub in ("images", "alpha", "fg"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i, pid in enumerate(cfg["val"]["ids"]):
        for k in range(per):
            bg = bgs[rng.integers(len(bgs))]
            img = composite(val["fg"][i], val["alpha"][i], bg)
            stem = f"{pid}_{k}"
            Image.fromarray(to_uint8(img)).save(out / "images" / f"{stem}.png")
            Image.fromarray(val["alpha"][i]).save(out / "alpha" / f"{stem}.png")
            Image.fromarray(val["fg"][i]).save(out / "fg" / f"{stem}.png")
    (out / "DONE").write_text("ok\n")
    return out
