"""Training and validation frames of every shape, scale, count and lighting (issue 13 point 2).

A frame is a background of any aspect ratio with 0 to 4 persons placed on it by 'over' compositing:

    alpha = a_k + alpha_(k-1) * (1 - a_k)            (the last person placed is in front)
    premultiplied colour P = f_k * a_k + P_(k-1) * (1 - a_k);  foreground = P / alpha;
    image = P + background * (1 - alpha)

so ``image = fg * alpha + background * (1 - alpha)`` holds for the whole frame, with the foreground
colours of whichever person is in front. Persons come as the fine cache stores them (uint8 alpha (h, w)
and foreground colours (h, w, 3), one full-body person each); backgrounds as uint8 RGB of any size.
Which persons and backgrounds a sampler sees is its caller's choice: pass the training split's only
(``data.load_split(cfg, cache, "fine")``, ``load_background_images(cfg, "train")``), so that validation
persons and backgrounds never enter training.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from semhm_models.images import load_rgb
from semhm_models.processing import budget_size, cover, to_uint8
from train.data import DataError, find_image, list_ids, source_of

ASPECTS = (9 / 16, 21 / 9)  # frame width / height, the range a sampler draws from (log-uniform)
HEIGHTS = (0.2, 1.5)  # person height / frame height for full-person placements
EMPTY_SHARE = 0.2  # frames with no person
TILTED_SHARE = 0.15  # full-body persons tilted or lying down (a person is not always upright)


@dataclass(frozen=True)
class Person:
    """One person as cached: ``alpha`` uint8 (h, w), ``fg`` uint8 (h, w, 3); ``box`` the alpha's bounding
    box (top, left, bottom, right) in pixels, bottom/right exclusive."""

    alpha: np.ndarray
    fg: np.ndarray
    box: tuple[int, int, int, int]

    @classmethod
    def of(cls, alpha: np.ndarray, fg: np.ndarray) -> Person:
        ys, xs = np.nonzero(alpha > 12)
        if ys.size == 0:
            raise ValueError("person alpha is empty (no pixel above 12/255)")
        return cls(alpha, fg, (int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1))


@dataclass(frozen=True)
class Placement:
    """Where a person lands: frame pixels per person pixel ``scale``, the person image's top-left corner
    ``(top, left)`` in frame pixels (may be negative: cut by the frame), mirrored or not."""

    scale: float
    top: float
    left: float
    flip: bool = False


def persons_of(split: dict[str, np.ndarray]) -> list[Person]:
    """The persons of a cached split (``data.load_split``: stacked ``alpha`` and ``fg``); an empty alpha
    (one CCP label in the fine split has no person) is left out."""
    return [Person.of(a, f) for a, f in zip(split["alpha"], split["fg"], strict=True) if (a > 12).any()]


def load_background_images(cfg: dict, split: str) -> list[np.ndarray]:
    """The backgrounds of one split ('train' or 'val') at their own size, uint8 (h, w, 3) each."""
    src = source_of(cfg, cfg["backgrounds"]["source"])
    names = cfg["backgrounds"][split]
    missing = sorted(set(names) - set(list_ids(src)))
    if missing:
        raise DataError(f"{src.root}: backgrounds missing: {', '.join(missing[:5])}")
    return [load_rgb(find_image(src.root, n)) for n in sorted(names)]


def tilted(person: Person, degrees: float) -> tuple[Person, float]:
    """``person`` turned ``degrees`` counter-clockwise about its centre, on a canvas grown to hold it (Pillow's
    bilinear rotation of alpha and foreground alike), and its box's height over the upright box's: a placement
    height times that keeps the person's size."""
    turn = lambda a: np.asarray(Image.fromarray(a).rotate(degrees, Image.BILINEAR, expand=True))  # noqa: E731
    turned = Person.of(turn(person.alpha), turn(person.fg))
    return turned, (turned.box[2] - turned.box[0]) / (person.box[2] - person.box[0])


def place(person: Person, frame_hw: tuple[int, int], height: float, cx: float, top: float, flip: bool = False) -> Placement:
    """A placement from frame-relative terms: the person's box ``height`` times the frame height, its
    centre at ``cx`` times the frame width, the top of its box (head) at ``top`` times the frame height."""
    t, lft, b, r = person.box
    s = height * frame_hw[0] / (b - t)
    w = person.alpha.shape[1]
    box_cx = (w - (lft + r) / 2) if flip else (lft + r) / 2
    return Placement(s, top * frame_hw[0] - t * s, cx * frame_hw[1] - box_cx * s, flip)


def render(person: Person, p: Placement, frame_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The person resampled into the frame: alpha and foreground float32 (H, W) and (H, W, 3) in [0, 1],
    zero outside the person. Only the visible part is resampled (Pillow's antialiased bilinear)."""
    fh, fw = frame_hw
    h, w = person.alpha.shape
    a_out = np.zeros((fh, fw), np.float32)
    f_out = np.zeros((fh, fw, 3), np.float32)
    # whole frame pixels inside the person image's footprint, so the source box stays within the image
    y0, x0 = max(0, int(np.ceil(p.top))), max(0, int(np.ceil(p.left)))
    y1, x1 = min(fh, int(np.floor(p.top + h * p.scale))), min(fw, int(np.floor(p.left + w * p.scale)))
    if y1 <= y0 or x1 <= x0:
        return a_out, f_out
    box = (
        max(0.0, (x0 - p.left) / p.scale),
        max(0.0, (y0 - p.top) / p.scale),
        min(float(w), (x1 - p.left) / p.scale),
        min(float(h), (y1 - p.top) / p.scale),
    )
    alpha, fg = person.alpha, person.fg
    if p.flip:
        alpha, fg = alpha[:, ::-1], fg[:, ::-1]
    size = (x1 - x0, y1 - y0)
    a_out[y0:y1, x0:x1] = np.asarray(Image.fromarray(np.ascontiguousarray(alpha)).resize(size, Image.BILINEAR, box=box)) / 255.0
    f_out[y0:y1, x0:x1] = np.asarray(Image.fromarray(np.ascontiguousarray(fg)).resize(size, Image.BILINEAR, box=box)) / 255.0
    return a_out, f_out


def over(layers: list[tuple[np.ndarray, np.ndarray]], background: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """'over' composite of (alpha (H, W), fg (H, W, 3)) float layers, back to front, on a float background
    (H, W, 3): returns image, alpha, foreground (float32 in [0, 1]; foreground 0 where alpha is 0)."""
    alpha = np.zeros(background.shape[:2], np.float32)
    pre = np.zeros(background.shape, np.float32)
    for a, f in layers:
        keep = (1.0 - a)[..., None]
        pre = f * a[..., None] + pre * keep
        alpha = a + alpha * keep[..., 0]
    image = pre + background * (1.0 - alpha)[..., None]
    fg = np.divide(pre, alpha[..., None], out=np.zeros_like(pre), where=alpha[..., None] > 1e-6)
    return image, alpha, np.clip(fg, 0.0, 1.0)


def compose(
    persons: list[Person],
    placements: list[Placement],
    background: np.ndarray,
    frame_hw: tuple[int, int],
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """A frame: ``background`` (uint8, any size) covers ``frame_hw``, the persons go over it in order; with
    ``rng``, relit (``relight``) and through a camera (``camera``), else clean. Returns image uint8
    (H, W, 3), alpha uint8 (H, W), fg uint8 (H, W, 3) and each person's own alpha uint8 (H, W) as placed
    (before occlusion by the persons in front)."""
    bg = cover(np.ascontiguousarray(background), frame_hw).astype(np.float32) / 255.0
    layers = [render(pe, pl, frame_hw) for pe, pl in zip(persons, placements, strict=True)]
    if rng is not None:
        fgs, bg = relight(np.stack([f for _, f in layers]) if layers else np.zeros((0, *frame_hw, 3), np.float32), bg, rng)
        layers = [(a, f) for (a, _), f in zip(layers, fgs, strict=True)]
    image, alpha, fg = over(layers, bg)
    image = to_uint8(image)
    return camera(image, rng) if rng is not None else image, to_uint8(alpha), to_uint8(fg), [to_uint8(a) for a, _ in layers]


def visible(person_alphas: list[np.ndarray]) -> list[np.ndarray]:
    """Each person's visible alpha (float32 (H, W)) once the persons placed after it cover it."""
    out = []
    for k, a in enumerate(person_alphas):
        v = a.astype(np.float32) / 255.0
        for b in person_alphas[k + 1 :]:
            v = v * (1.0 - b.astype(np.float32) / 255.0)
        out.append(v)
    return out


# -- photometric variety ---------------------------------------------------------------------------


def relight(fg: np.ndarray, bg: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel colour changes applied alike to the foreground colours and the background (float32 in
    [0, 1]), so the composite stays exact: dark, back-lit (bright background, dark person), low
    contrast, greyscale, colour cast; each at random, several may combine."""
    if rng.random() < 0.25:  # dark: gain and gamma
        g, gamma = rng.uniform(0.25, 0.7), rng.uniform(1.0, 1.8)
        fg, bg = g * fg**gamma, g * bg**gamma
    if rng.random() < 0.15:  # back-lit
        fg = fg * rng.uniform(0.3, 0.7)
        bg = 1.0 - (1.0 - bg) * rng.uniform(0.2, 0.6)
    if rng.random() < 0.2:  # low contrast around mid grey
        c, m = rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.65)
        fg, bg = m + c * (fg - m), m + c * (bg - m)
    if rng.random() < 0.1:  # greyscale
        w = np.array([0.299, 0.587, 0.114], np.float32)
        fg, bg = np.repeat(fg @ w, 3).reshape(fg.shape), np.repeat(bg @ w, 3).reshape(bg.shape)
    if rng.random() < 0.3:  # colour cast / white balance
        cast = rng.uniform(0.85, 1.15, 3).astype(np.float32)
        fg, bg = fg * cast, bg * cast
    return np.clip(fg, 0, 1).astype(np.float32), np.clip(bg, 0, 1).astype(np.float32)


def camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Image-only degradations of a uint8 frame (the alpha and foreground stay the clean truth): blur,
    sensor noise, JPEG at quality 30-95."""
    im = Image.fromarray(image)
    if rng.random() < 0.2:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
    out = np.asarray(im)
    if rng.random() < 0.25:
        noise = rng.normal(0.0, rng.uniform(2.0, 12.0), out.shape)
        out = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, "JPEG", quality=int(rng.integers(30, 96)))
        out = np.asarray(Image.open(buf).convert("RGB"))
    return out


# -- the sampler -----------------------------------------------------------------------------------


class SceneSampler:
    """Random training frames from the persons and backgrounds it is given (and no others).

    ``frame(budget)`` draws: an aspect ratio from 9:16 to 21:9 (log-uniform); no person with probability
    ``empty``; else 1 to 4 persons, each either full (height 20-150% of the frame, so the taller ones are
    cut by the frame's edges; ``TILTED_SHARE`` of them tilted or lying down) or, one time in three, a
    close-up: head to shoulders, chest or waist zoomed to fill the frame. Persons overlap where their random
    positions do. Then relighting (``relight``) and the camera (``camera``)."""

    def __init__(self, persons: list[Person], backgrounds: list[np.ndarray], rng: np.random.Generator, empty: float = EMPTY_SHARE):
        if not backgrounds:
            raise ValueError("SceneSampler needs at least one background")
        if not persons and empty < 1:
            raise ValueError("SceneSampler needs persons unless every frame is empty (empty=1)")
        self.persons, self.backgrounds, self.rng, self.empty = persons, backgrounds, rng, empty

    def placements(self, frame_hw: tuple[int, int]) -> tuple[list[Person], list[Placement]]:
        """The persons of one frame and where they go (empty lists for a frame with no person)."""
        rng = self.rng
        if rng.random() < self.empty:
            return [], []
        n = int(rng.choice([1, 2, 3, 4], p=[0.5, 0.25, 0.15, 0.1]))
        chosen = [self.persons[i] for i in rng.integers(len(self.persons), size=n)]
        out = []
        for k, pe in enumerate(chosen):
            flip = bool(rng.random() < 0.5)
            if rng.random() < 1 / 3:  # close-up: the top `cut` of the body fills the frame's height
                cut = rng.uniform(0.25, 0.6)
                margin = rng.uniform(0.0, 0.15)
                out.append(place(pe, frame_hw, (1 - margin) / cut, rng.uniform(0.3, 0.7), margin, flip))
            else:
                height = float(np.exp(rng.uniform(np.log(HEIGHTS[0]), np.log(HEIGHTS[1]))))
                if rng.random() < TILTED_SHARE:  # tilted up to 45 degrees, or lying down: the same person's size
                    degrees = float(rng.uniform(-45, 45) if rng.random() < 0.5 else rng.choice([-1, 1]) * rng.uniform(60, 100))
                    pe, ratio = tilted(pe, degrees)
                    height *= ratio
                    chosen[k] = pe
                top = rng.uniform(min(0.0, 1 - height), max(0.0, 1 - height) + 0.05) if height < 1 else rng.uniform(-0.05, 0.1)
                out.append(place(pe, frame_hw, height, rng.uniform(0.1, 0.9), top, flip))
        return chosen, out

    def aspect(self) -> float:
        """A random frame aspect ratio (width / height), log-uniform over ``ASPECTS``."""
        return float(np.exp(self.rng.uniform(np.log(ASPECTS[0]), np.log(ASPECTS[1]))))

    def frame(self, budget: int = 512 * 512, aspect: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        """One random frame of about ``budget`` pixels (sides multiples of 32) at ``aspect`` (width / height;
        random when None): image uint8 (H, W, 3), alpha uint8 (H, W), fg uint8 (H, W, 3), and the alpha of
        each person placed (uint8 (H, W), as placed)."""
        rng = self.rng
        hw = budget_size(budget, aspect or self.aspect())
        persons, placements = self.placements(hw)
        bg = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
        return compose(persons, placements, bg[:, ::-1] if rng.random() < 0.5 else bg, hw, rng)
