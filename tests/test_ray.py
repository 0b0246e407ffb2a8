"""The Ray engine on a real local Ray (2 CPU actors) and the tiny real models: the same outputs as the
local engine, bad files named, inputs untouched, and the Ray Data entry point."""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semhm_models.errors import RuntimeSetupError, WeightsError
from semhm_models.options import RuntimeOptions

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
ray_engine = pytest.importorskip("semhm_models.ray_engine")

OPTIONS = RuntimeOptions(provider="cpu", threads=1)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting one takes seconds): 2 CPUs, no dashboard, offline."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, logging_level="ERROR", object_store_memory=1 << 28)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """20 small photo-like images (a figure on a gradient, noise), sizes and formats varied."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(18)
    paths = []
    for i in range(20):
        h, w = 96 + 8 * (i % 5), 64 + 8 * (i % 4)
        y, x = np.mgrid[:h, :w]
        back = np.stack([x * 255 // w, y * 255 // h, np.full((h, w), 40 * (i % 6))], -1)
        figure = ((y - h * 0.55) / (h * 0.4)) ** 2 + ((x - w / 2) / (w * 0.25)) ** 2 < 1
        rgb = np.where(figure[..., None], [200, 150, 120], back) + rng.normal(0, 12, (h, w, 3))
        p = folder / f"p{i:02d}.{'png' if i % 3 else 'jpg'}"
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(p)
        paths.append(p)
    return paths


def write(data: bytes, out: str) -> None:
    tmp = Path(out).with_name(Path(out).name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, out)


def digest(paths) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def pixels(png: bytes | Path) -> np.ndarray:
    with Image.open(png if isinstance(png, Path) else io.BytesIO(png)) as im:
        return np.asarray(im).astype(np.int16)


def test_two_workers_match_the_local_engine_and_name_bad_files(local_ray, photos, tiny_weights, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    inputs = [*photos[:10], broken, *photos[10:]]
    before = digest(inputs)
    out = tmp_path / "out"
    out.mkdir()
    blocked = out / "no-such-folder" / "x.png"  # writing it fails, the rest go on
    jobs = [(str(p), str(out / f"{p.stem}.png")) for p in inputs] + [(str(photos[0]), str(blocked))]
    reported = []
    results = ray_engine.matte_jobs(
        jobs, ray_engine.encode, write, str(tiny_weights), OPTIONS, workers=2, report=lambda i, e: reported.append((i, e))
    )

    assert [i for i, _ in results] == [i for i, _ in jobs]  # job order
    assert sorted(reported, key=str) == sorted(results, key=str)  # each reported once, as it arrived
    errors = {i: e for i, e in results if e}
    assert list(errors) == [str(broken), str(photos[0])]
    assert errors[str(broken)].startswith(f"{broken}: ")
    assert f"cannot write {blocked}" in errors[str(photos[0])]
    assert digest(inputs) == before  # no input touched
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{p.stem}.png" for p in photos)

    from semhm_models.api import Matter

    local = Matter.from_pretrained(str(tiny_weights), OPTIONS)  # the local engine: one Matter, a plain loop
    for p in photos:
        mine, theirs = pixels(ray_engine.encode(local, str(p))), pixels(out / f"{p.stem}.png")
        assert mine.shape == theirs.shape == (*Image.open(p).size[::-1], 4)
        assert np.abs(mine - theirs).max() <= 1  # within 1/255


def test_matte_dataset_paths_and_bytes(local_ray, photos, tiny_weights):
    from semhm_models.api import Matter

    local = Matter.from_pretrained(str(tiny_weights), OPTIONS)
    rows = [{"path": str(p), "id": k} for k, p in enumerate(photos[:3])]
    with warnings.catch_warnings(record=True) as caught:  # no warning of how semhm calls Ray's API
        warnings.simplefilter("always")
        ds = ray_engine.matte_dataset(ray.data.from_items(rows), str(tiny_weights), OPTIONS, "alpha", workers=2)
    ours = [f"{w.filename}: {w.message}" for w in caught if "semhm_models" in w.filename]
    assert not ours, ours
    out = ds.take_all()
    assert sorted(r["id"] for r in out) == [0, 1, 2]  # other columns kept
    for r in out:
        assert r["error"] is None
        alpha = pixels(r["png"])
        assert alpha.ndim == 2 and np.abs(alpha - pixels(ray_engine.encode(local, r["path"], "alpha"))).max() <= 1

    rows = [{"bytes": photos[3].read_bytes(), "path": "good.png"}, {"bytes": b"GIF89a broken", "path": "bad.gif"}]  # bytes first
    out = {r["path"]: r for r in ray_engine.matte_dataset(ray.data.from_items(rows), str(tiny_weights), OPTIONS, workers=1).take_all()}
    assert out["good.png"]["error"] is None and pixels(out["good.png"]["png"]).shape[2] == 4
    assert out["bad.gif"]["error"].startswith("bad.gif: ") and out["bad.gif"]["png"] == b""


def test_bad_arguments_fail_before_any_work(local_ray, tiny_weights, tmp_path):
    ds = ray.data.from_items([{"file": "a.jpg"}])
    with pytest.raises(ValueError, match="'path' or a 'bytes' column"):
        ray_engine.matte_dataset(ds, str(tiny_weights))
    with pytest.raises(ValueError, match="output_format 'png'"):
        ray_engine.matte_dataset(ds, str(tiny_weights), output_format="png")
    with pytest.raises(ValueError, match="workers 0"):
        ray_engine.matte_jobs([("a.jpg", "a.png")], ray_engine.encode, write, workers=0)
    with pytest.raises(WeightsError, match="no-such-weights"):
        ray_engine.matte_jobs([("a.jpg", "a.png")], ray_engine.encode, write, str(tmp_path / "no-such-weights"))
    with pytest.raises(RuntimeSetupError, match="1 GPU"):  # the module's Ray has no GPU
        ray_engine.matte_jobs([("a.jpg", "a.png")], ray_engine.encode, write, str(tiny_weights), gpus_per_worker=1)
    assert ray_engine.matte_jobs([], ray_engine.encode, write) == []


def test_a_file_that_kills_its_worker_fails_the_run_without_hanging(local_ray, photos, tiny_weights, tmp_path):
    def produce(matter, path: str) -> bytes:
        if Path(path).stem == "p03":
            os._exit(1)  # as a crash or the kernel's out-of-memory killer would
        return ray_engine.encode(matter, path)

    jobs = [(str(p), str(tmp_path / f"{p.stem}.png")) for p in photos[:6]]
    results = dict(ray_engine.matte_jobs(jobs, produce, write, str(tiny_weights), OPTIONS, workers=2))
    assert "not matted, the Ray job failed" in results[str(photos[3])]
    for p, error in results.items():  # every job is either written or named with the reason
        assert (error is None) == (tmp_path / f"{Path(p).stem}.png").is_file()


def test_cli_engine_ray_writes_what_the_local_engine_writes(local_ray, photos, tiny_weights, tmp_path, capsys):
    """`semhm matte --engine ray` with 2 workers: the local engine's files (to 1/255), the corrupt file named,
    exit status 1, no input touched."""
    from semhm_models.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    for p in photos:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    before = digest(folder.iterdir())
    common = ["--model", str(tiny_weights), "--provider", "cpu", "--threads", "1"]
    assert main(["matte", str(folder), "-o", str(tmp_path / "local"), *common]) == 1
    capsys.readouterr()
    assert main(["matte", str(folder), "-o", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2", *common]) == 1
    err = capsys.readouterr().err
    assert "corrupt.jpg" in err and "21 done: 20 written" in err and "1 failed" in err
    assert digest(folder.iterdir()) == before
    local = sorted((tmp_path / "local").iterdir())
    assert [p.name for p in local] == sorted(f"{p.stem}.png" for p in photos)
    for p in local:
        assert np.abs(pixels(p) - pixels(tmp_path / "ray" / p.name)).max() <= 1


def test_no_person_found_is_reported_per_file(local_ray, photos, tiny_weights, tmp_path):
    """A produce that issues NoPersonWarning in the actors (the threshold moved there, so every photo is "no
    person"): the file is written, ``warn`` names it; matte_dataset's rows say it in "warning"."""

    def produce(matter, path: str) -> bytes:
        from semhm_models import processing

        old, processing.NO_PERSON = processing.NO_PERSON, 1.01 if Path(path).stem == "p01" else -1.0
        try:
            return ray_engine.encode(matter, path)
        finally:
            processing.NO_PERSON = old

    jobs = [(str(p), str(tmp_path / f"{p.stem}.png")) for p in photos[:3]]
    warned = []
    results = ray_engine.matte_jobs(jobs, produce, write, str(tiny_weights), OPTIONS, workers=2, warn=lambda i, m: warned.append((i, m)))
    assert all(e is None for _, e in results) and all(Path(o).is_file() for _, o in jobs)
    assert len(warned) == 1 and warned[0][0] == str(photos[1])
    assert re.fullmatch(r"no person found \(score \d\.\d\d\); the cutout is likely empty or wrong", warned[0][1]), warned
    rows = ray_engine.matte_dataset(ray.data.from_items([{"path": str(photos[0])}]), str(tiny_weights), OPTIONS, workers=1).take_all()
    assert "warning" in rows[0] and rows[0]["error"] is None
