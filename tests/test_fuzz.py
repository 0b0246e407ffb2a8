"""Fuzzing the image and mask loaders (hypothesis, derandomized, no database, bounded): random bytes,
truncated and bit-flipped real files of every common format, and arrays of every dtype and shape. Every
outcome is a valid result or an ImageError, never another exception."""

from __future__ import annotations

import io

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402
from PIL import Image  # noqa: E402

from semhm_models.errors import ImageError  # noqa: E402
from semhm_models.images import load_mask, load_rgb  # noqa: E402

FUZZ = settings(derandomize=True, database=None, max_examples=150, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
LIMIT = 1_000_000  # max_pixels: a fuzzed header may claim any size


def _real_files() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    out = []
    for fmt, im, kw in (
        ("PNG", rgb, {}),
        ("PNG", rgb.convert("RGBA"), {}),
        ("PNG", Image.fromarray(rng.integers(0, 65536, (24, 32), dtype=np.uint16)), {}),
        ("JPEG", rgb, {"quality": 90}),
        ("JPEG", rgb.convert("CMYK"), {}),
        ("GIF", rgb.convert("P"), {}),
        ("WEBP", rgb, {}),
        ("TIFF", rgb, {}),
        ("TIFF", Image.fromarray(rng.random((24, 32), dtype=np.float32)), {}),
        ("BMP", rgb, {}),
    ):
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        out.append(buf.getvalue())
    return out


REAL = _real_files()


def _check(data) -> None:
    for load in (load_rgb, load_mask):
        try:
            out = load(data, max_pixels=LIMIT)
        except ImageError:
            continue
        if load is load_rgb:
            assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and out.size > 0
        else:
            assert out.dtype == np.float32 and out.ndim == 2 and np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    _check(data)


@FUZZ
@given(st.sampled_from(REAL), st.floats(0, 1), st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=4))
def test_truncated_and_flipped_real_files(data, keep, flips):
    b = bytearray(data[: max(1, int(len(data) * keep))])
    for where, xor in flips:
        b[min(len(b) - 1, int(len(b) * where))] ^= xor
    _check(bytes(b))


DTYPES = st.sampled_from(["uint8", "uint16", "int8", "int32", "int64", "float16", "float32", "float64", "bool", "complex64"])


@FUZZ
@given(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)))
def test_arrays_of_every_dtype_and_shape(a):
    _check(a)
