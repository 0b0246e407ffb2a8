"""`semhm bench` runs end to end and reports what it promises (no timing is asserted: speed is measured
by the benchmark itself, see docs/benchmarks.md)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from semhm_models.cli import main
from semhm_models.commands.bench import photo

DATA = Path(__file__).parent / "data"


def test_bench_reports_stages_and_memory(tiny_weights, tmp_path, capsys):
    out = tmp_path / "b.json"
    code = main(
        [
            "bench",
            "--model",
            str(tiny_weights),
            "--provider",
            "cpu",
            "--size",
            "33x71",
            "--repeats",
            "2",
            "--warmup",
            "1",
            "--precision",
            "auto",
            "--precision",
            "fp16",
            "--mrn-side",
            "none",
            "--mrn-side",
            "32",
            "--photo",
            str(DATA / "group.jpg"),
            "--zoom",
            "off",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "| CPUExecutionProvider | fp32 | none | 33x71 |" in table and "| CPUExecutionProvider | fp16 | 32 | 33x71 |" in table
    report = json.loads(out.read_text())
    assert [r["precision"] for r in report["results"]] == ["fp32", "fp32", "fp16", "fp16"]  # auto: fp32 on a CPU
    assert [r["mrn_side"] for r in report["results"]] == [None, 32, None, 32]
    assert report["host"]["cores"] >= 1 and "commit" in report["host"]
    for r in report["results"]:
        assert set(r["stages_median_ms"]) == {"decode", "locate", "pre", "mpn", "qun", "mrn", "upsample", "post"}
        assert (r["stages_median_ms"]["upsample"] > 0) == (r["mrn_side"] == 32)  # the guided filter ran where MRN was smaller
        assert r["end_to_end_incl_decode"]["median_ms"] >= r["end_to_end_excl_decode"]["median_ms"] > 0
        assert r["peak_rss_mb"] > 0 and r["repeats"] == 2 and r["throughput_images_per_s"] > 0
        assert r["photo"] == "group.jpg" and r["zoom"] == "off"


def test_bench_refuses_bad_options_in_one_line(capsys):
    assert main(["bench", "--repeats", "0"]) == 1
    assert capsys.readouterr().err == "error: --repeats must be at least 1 and --warmup at least 0\n"
    assert main(["bench", "--threads", "0"]) == 1
    assert "threads 0: choose 1 to" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["bench", "--size", "12by3"])
    assert e.value.code == 2 and "expected WIDTHxHEIGHT" in capsys.readouterr().err
    assert main(["bench", "--size", "20000x20000"]) == 1
    assert capsys.readouterr().err == "error: --size 20000x20000: 400 MP is over semhm's limit of 100 MP (max_pixels)\n"
    for bad in ("missing.jpg", str(DATA), "-"):
        assert main(["bench", "--photo", bad]) == 1
        assert capsys.readouterr().err == f"error: --photo {bad}: not a file; give an image file's path\n"


def test_bench_photo_is_decoded_as_semhm_decodes_it(tmp_path):
    """A 16-bit grey PNG (and any mode, profile or EXIF orientation) reaches bench as it reaches matte."""
    from PIL import Image

    from semhm_models.images import load_rgb

    grey = np.full((40, 30), 30000, np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    with Image.open(io.BytesIO(photo(60, 80, tmp_path / "g16.png"))) as im:
        assert im.format == "JPEG" and abs(np.asarray(im).astype(int).mean() - load_rgb(tmp_path / "g16.png").mean()) < 2
    assert photo(30, 40, tmp_path / "g16.png") == (tmp_path / "g16.png").read_bytes()  # its own size: its own file


def test_the_bench_photo_is_package_data():
    from PIL import Image

    with Image.open(io.BytesIO(photo(96, 64))) as im:
        assert im.format == "JPEG" and im.size == (96, 64)
        assert np.asarray(im).std() > 20  # a real photo, not a flat stand-in


def test_a_provider_that_cannot_run_is_one_plain_error_in_its_row(tiny_weights, tmp_path, capsys):
    """CUDA asked of the CPU onnxruntime: one row says why in semhm's words (no class path, no list), the other
    sizes are not tried, and bench exits 1."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    out = tmp_path / "b.json"
    args = ["bench", "--model", str(tiny_weights), "--provider", "cuda", "--size", "33x71", "--size", "40x40", "--repeats", "1"]
    assert main([*args, "--json", str(out)]) == 1
    rows = [line for line in capsys.readouterr().out.splitlines() if "| cuda |" in line]
    results = json.loads(out.read_text())["results"]
    assert len(rows) == len(results) == 1  # tried once, not once per size
    error = results[0]["error"]
    assert error.startswith("CUDAExecutionProvider is not in this onnxruntime") and f"error: {error} |" in rows[0]
