"""`semhm bench` runs end to end and reports what it promises (no timing is asserted: speed is measured
by the benchmark itself, see docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest

from semhm_models.cli import main


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
            "64x48",
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
            "--json",
            str(out),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "| CPUExecutionProvider | fp32 | 64x48 |" in table and "| CPUExecutionProvider | fp16 | 33x71 |" in table
    report = json.loads(out.read_text())
    assert [r["precision"] for r in report["results"]] == ["fp32", "fp32", "fp16", "fp16"]  # auto: fp32 on a CPU
    assert report["host"]["cores"] >= 1
    for r in report["results"]:
        assert set(r["stages_median_ms"]) == {"decode", "pre", "mpn", "qun", "mrn", "post"}
        assert r["end_to_end_incl_decode"]["median_ms"] >= r["end_to_end_excl_decode"]["median_ms"] > 0
        assert r["peak_rss_mb"] > 0 and r["repeats"] == 2 and r["throughput_images_per_s"] > 0


def test_bench_refuses_zero_repeats(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--repeats", "0"])
    assert e.value.code == 2 and "--repeats must be at least 1" in capsys.readouterr().err
