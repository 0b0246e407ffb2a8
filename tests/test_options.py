"""Runtime settings are checked where they enter: RuntimeOptions fields and SEMHM_THREADS, with messages
naming the setting and the allowed range, before any model loads."""

from __future__ import annotations

import os

import pytest

from semhm_models import Matter, options
from semhm_models.options import THREADS_ENV, RuntimeOptions, env_threads, max_threads


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("threads", 0, "choose 1 to"),
        ("threads", 100_000, "choose 1 to"),
        ("threads", -1, "choose 1 to"),
        ("threads", True, "expected a whole number"),
        ("threads", 1.5, "expected a whole number"),
        ("max_side", 1, "at least 32"),
        ("max_side", -5, "at least 32"),
        ("max_side", 0, "at least 32"),
        ("mrn_side", 31, "at least 32"),
        ("mrn_side", 1.5, "expected a whole number"),
        ("max_pixels", 0, "at least 1"),
        ("provider", "tpu", "choose auto, cpu, cuda, tensorrt"),
        ("precision", "int8", "choose auto, fp32, fp16"),
        ("binding", "yes", "choose auto, on, off"),
        ("zoom", "on", "choose auto, off"),
    ],
)
def test_fields_out_of_range_are_refused(field, value, match):
    with pytest.raises(ValueError, match=f"{field}.*{match}|{match}"):
        RuntimeOptions(**{field: value})


def test_valid_settings():
    o = RuntimeOptions(threads=max_threads(), max_side=None, max_pixels=1)
    assert o.session_threads() == max_threads()
    assert RuntimeOptions(max_side=32).max_side == 32
    assert RuntimeOptions(mrn_side=None).mrn_side is None and RuntimeOptions().mrn_side == options.DEFAULT_MRN_SIDE


@pytest.mark.parametrize("raw, expected", [("", None), (" ", None), ("0", None), ("3", 3), (" 2 ", 2)])
def test_semhm_threads_values(monkeypatch, raw, expected):
    monkeypatch.setenv(THREADS_ENV, raw)
    assert env_threads() == expected
    assert RuntimeOptions().session_threads() == expected
    assert RuntimeOptions(threads=1).session_threads() == 1  # the field wins over the variable


@pytest.mark.parametrize(
    "raw, match", [("abc", "expected a whole number"), ("-2", "choose 1 to"), ("100000", "choose 1 to"), ("2.5", "whole")]
)
def test_semhm_threads_bad_values_name_the_variable(monkeypatch, raw, match):
    monkeypatch.setenv(THREADS_ENV, raw)
    with pytest.raises(ValueError, match=f"{THREADS_ENV}.*{match}"):
        env_threads()


def test_bad_semhm_threads_is_a_settings_error_before_the_model_loads(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "abc")
    loaded = []
    monkeypatch.setattr("semhm_models.api.create_session", lambda *a, **k: loaded.append(a))
    with pytest.raises(ValueError, match="SEMHM_THREADS='abc'"):
        Matter.from_pretrained(None, provider="cpu")
    assert not loaded
    assert options.max_threads() == 4 * (os.cpu_count() or 1)
