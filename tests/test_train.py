"""Training end to end on a tiny dataset: build-fine, three stages with resume, export with parity, the
runtime loading the result, evaluation, and publishing through the real huggingface_hub client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from semhm_models.contracts import MPN_SIZE
from tests.conftest import ROOT, need_shared
from tests.hubserver import Hub
from train import data
from train.cli import main as train_main
from train.export import export
from train.stages import TRAINING_STAGES, Batches, StageArgs, degrade, mpn_loss, qun_loss


def _person(rng, h=72, w=56):
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    mask = Image.new("L", (w, h))
    ImageDraw.Draw(mask).ellipse([w // 4, h // 8, 3 * w // 4, h - 4], fill=255)
    img[np.asarray(mask) > 0] = rng.integers(0, 255, 3)
    return img, np.asarray(mask)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    rng = np.random.default_rng(0)
    for sub in ("coarse/images", "coarse/masks", "fine/images", "fine/alpha", "bg"):
        (root / sub).mkdir(parents=True)
    for i in range(4):
        img, m = _person(rng)
        Image.fromarray(img).save(root / "coarse" / "images" / f"p{i}.jpg")
        Image.fromarray(m).save(root / "coarse" / "masks" / f"p{i}.png")
    for i in range(2):
        img, m = _person(rng)
        Image.fromarray(img).save(root / "fine" / "images" / f"q{i}.png")
        Image.fromarray(m).save(root / "fine" / "alpha" / f"q{i}.png")
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(root / "bg" / f"b{i}.jpg")
    cfg = {
        "resolution": [64, 48],
        "sources": {
            "syn": {"layout": "coarse", "root": str(root / "coarse")},
            "synfine": {"layout": "fine", "root": str(root / "fine")},
            "bg": {"layout": "backgrounds", "root": str(root / "bg")},
        },
        "fine_labels": {"band": 2, "hair_band": 4},
        "fine": {"source": "syn", "ids": ["p0", "p1"]},
        "coarse": {"source": "syn", "ids": ["p2", "p3"]},
        "val": {"source": "synfine", "ids": ["q0", "q1"]},
        "backgrounds": {"source": "bg", "train": ["b0", "b1"], "val": ["b2", "b3"]},
    }
    (root / "cfg.json").write_text(json.dumps(cfg))
    return root


@pytest.fixture(scope="module")
def cache(dataset, tmp_path_factory) -> str:
    """The dataset's cache with its fine labels built (the step is resumable: later calls redo nothing)."""
    out = str(tmp_path_factory.mktemp("cache"))
    assert train_main(["build-fine", "--config", str(dataset / "cfg.json"), "--cache", out]) == 0
    return out


def test_tiny_end_to_end(dataset, cache, tmp_path, capsys):
    cfg, run = str(dataset / "cfg.json"), str(tmp_path / "run")
    assert len(list((Path(cache) / "64x48" / "fine").glob("*.npz"))) == 4
    assert train_main(["build-fine", "--config", cfg, "--cache", cache]) == 0  # resumable: nothing to redo
    assert train_main(["build-val", "--config", cfg, "--cache", cache, "--out", str(tmp_path / "val")]) == 0
    assert len(list((tmp_path / "val" / "images").iterdir())) == 4
    opts = ["--config", cfg, "--cache", cache, "--batch", "4", "--log-every", "1", "--save-every", "1", "--threads", "2"]
    common = [*opts, "--run", run]
    assert train_main(["train", "--stage", "mpn", "--steps", "2", *common]) == 0
    assert train_main(["train", "--stage", "mpn", "--steps", "3", *common]) == 0
    assert "resumed mpn at step 2" in capsys.readouterr().out
    assert train_main(["train", "--stage", "qun", "--steps", "2", *common]) == 0
    assert train_main(["train", "--stage", "mrn", "--steps", "2", *common]) == 0
    log = [json.loads(line) for line in open(os.path.join(run, "mpn.log.jsonl"))]
    assert [r["step"] for r in log] == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in log)
    meta = json.loads(open(os.path.join(run, "mrn.json")).read())
    assert meta["step"] == 2 and meta["stage"] == "mrn"
    joint = [*opts, "--run", str(tmp_path / "joint"), "--stage", "joint", "--steps", "2", "--mpn-from", run]
    assert train_main(["train", *joint]) == 1  # a fine-tune: needs trained MRN weights
    assert train_main(["train", *joint, "--init-from", os.path.join(run, "mrn.safetensors")]) == 0
    before, after = (load_file(os.path.join(d, "mpn.safetensors")) for d in (run, tmp_path / "joint"))
    assert not torch.equal(before["head.weight"], after["head.weight"])  # the chain's loss reached MPN
    assert (tmp_path / "joint" / "mrn.safetensors").exists()
    qfg = ["--stage", "qun", "--steps", "1", "--qun-fg", "mpn", "--mpn-input", "fixed", "--mpn-from", run, "--mpn-tta", "none"]
    assert train_main(["train", *qfg, *opts, "--run", str(tmp_path / "qfg")]) == 0
    args = StageArgs(stage="qun", run=run, config=cfg, cache=cache, qun_fg="mpn", mpn_input="fixed", mpn_tta="none")
    stage = TRAINING_STAGES["qun"](args, torch.device("cpu"))
    stage.build()
    b = Batches(data.load_config(cfg), args, torch.device("cpu"), False, 0)
    (img, x, x_, fg), _ = stage.batch(b, 2, 0)
    assert img.shape[-2:] == MPN_SIZE and x_.shape == fg.shape == (2, 1, *MPN_SIZE)  # the runtime's low-res size
    with torch.no_grad():
        assert torch.equal(fg, stage.mpn(img)[1])  # MPN's own mask, not a simulation
    with pytest.raises(ValueError, match="needs --frames scenes"):
        TRAINING_STAGES["qun"](StageArgs(stage="qun", run=run, config=cfg, qun_fg="mpn", frames="crops"), torch.device("cpu")).build()
    assert train_main(["average", "--stage", "mpn", "--out", str(tmp_path / "soup"), run, run]) == 0
    assert json.loads((tmp_path / "soup" / "mpn.json").read_text())["average_of"] == [run, run]

    out = tmp_path / "onnx"
    capsys.readouterr()
    assert train_main(["export", "--run", run, "--out", str(out)]) == 0
    parity = json.loads(capsys.readouterr().out)["parity_max_abs_diff"]
    assert parity["fp32"]["mrn@801x1203"] <= 1e-4 and 0 < parity["fp16"]["mrn@801x1203"] <= 5e-2
    from semhm_models import Matter
    from semhm_models.cli import main as semhm

    matter = Matter.from_pretrained(str(out), provider="cpu")
    assert matter(tmp_path / "val" / "images" / "q0_0.png").alpha.shape == (64, 48)
    pred = tmp_path / "pred"
    assert semhm(["matte", str(tmp_path / "val" / "images"), "-o", str(pred), "--format", "alpha", "--model", str(out)]) == 0
    assert semhm(["eval", "--pred", str(pred), "--gt", str(tmp_path / "val" / "alpha"), "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["count"] == 4
    assert train_main(["evaluate", "--run", run, "--val", str(tmp_path / "val"), "--out", str(tmp_path / "ev"), "--mode", "mpn"]) == 0
    assert set(json.loads((tmp_path / "ev" / "metrics.json").read_text())) == {"whole", "unknown"}

    with Hub() as hub:  # publish with the real client, then fetch it back through hf://
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(
            HF_ENDPOINT=hub.url,
            HF_TOKEN="hf_test",
            HF_HUB_CACHE=str(tmp_path / "hfcache"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_XET="1",
        )
        r = subprocess.run(
            [sys.executable, "-m", "train", "publish", "--weights", str(out), "--repo-id", "me/tiny"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        files = hub.repos["me/tiny"]["commits"][hub.repos["me/tiny"]["refs"]["main"]]
        assert set(files) == {"manifest.json", "README.md", *(f"{s}{p}.onnx" for s in ("mpn", "qun", "mrn") for p in ("", ".fp16"))}
        assert files["mrn.onnx"] == (out / "mrn.onnx").read_bytes()
        card = files["README.md"].decode()
        assert "Intended use and limits" in card and "Training data" in card and "Licences" in card
        meta = ModelCard(card).data  # the Hub's own parser of the YAML header
        assert meta.pipeline_tag == "image-segmentation" and meta.library_name == "onnx" and meta.license == "apache-2.0"
        r = subprocess.run(
            [sys.executable, "-m", "semhm_models.cli", "download", "hf://me/tiny@main"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0 and "verified 6 files" in r.stdout, r.stderr


def test_missing_and_mismatched_files_are_named(dataset, tmp_path):
    cfg = data.load_config(dataset / "cfg.json")
    src = data.source_of(cfg, "syn")
    with pytest.raises(data.DataError, match="p9.*missing file"):
        data.read_person(src, "p9", (64, 48))
    broken = data.Source("coarse", shutil.copytree(dataset / "coarse", tmp_path / "coarse"))  # the shared dataset stays intact
    Image.new("L", (10, 10)).save(broken.root / "masks" / "p3.png")
    with pytest.raises(data.DataError, match="does not match"):
        data.read_person(broken, "p3", (64, 48))
    with pytest.raises(data.DataError, match="missing; run `python -m train build-fine`"):
        data.load_split(cfg, tmp_path, "fine")


def test_ccp_layout_reads_person_and_hair():
    root = need_shared() / "ccp"
    src = data.Source("ccp", root)
    p = data.read_person(src, data.list_ids(src)[0], (416, 276))
    assert p["image"].shape == (416, 276, 3) and p["mask"].shape == (416, 276)
    assert 0.05 < (p["mask"] > 127).mean() < 0.7 and p["hair"].any()


def test_losses_follow_the_paper():
    a = torch.zeros(1, 1, 4, 4)
    pred = torch.cat([torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)], 1)  # fg all 1, bg all 0
    assert mpn_loss(pred, a).item() == pytest.approx(1.0)  # 0.5 * 1 + 0.5 * 1
    x, x_ = torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
    assert qun_loss(x, x_, x, x_).item() == pytest.approx(0.5)  # only the consistency term: 0.5 * 1
    g = torch.Generator().manual_seed(0)
    m = torch.zeros(8, 1, 32, 32)
    m[:, :, 8:24, 8:24] = 1
    d = degrade(m, g)
    assert d.shape == m.shape and 0 <= d.min() and d.max() <= 1 and not torch.equal(d, m)


def test_torchrun_two_processes_train_every_stage_and_resume(dataset, cache, tmp_path):
    """`torchrun --nproc_per_node 2 -m train train`: DistributedDataParallel on gloo, each stage a few steps,
    rank 0 writes one log line per step and the checkpoints, a 2-process run resumes, and evaluate and
    export read the result."""
    cfg, run = str(dataset / "cfg.json"), tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    opts = ["--config", cfg, "--cache", cache, "--batch", "4", "--log-every", "1", "--save-every", "1", "--threads", "1", "--run", str(run)]

    def torchrun(*args: str) -> str:
        # `--` ends torchrun's options: otherwise it reads our --run as an abbreviation of its --run-path
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "train", "--", "train"]
        cmd += [*args, *opts]
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        first = r.stderr.find("Traceback")  # a failing rank's own traceback comes before torchrun's
        native = [line for line in r.stderr.splitlines() if line.startswith(("terminate called", "  what()"))]  # C++ aborts
        assert r.returncode == 0, "\n".join(native) + "\n" + r.stderr[max(0, first) :][:3000] + "\n...\n" + r.stderr[-1500:]
        return r.stdout

    torchrun("--stage", "mpn", "--steps", "2", "--pretrained", "none")
    assert "resumed mpn at step 2" in torchrun("--stage", "mpn", "--steps", "3", "--pretrained", "none")
    torchrun("--stage", "qun", "--steps", "2")
    torchrun("--stage", "mrn", "--steps", "2")
    torchrun("--stage", "joint", "--steps", "2", "--init-from", str(run / "mrn.safetensors"))
    for stage in ("mpn", "qun", "mrn", "joint"):
        log = [json.loads(line) for line in open(run / f"{stage}.log.jsonl")]
        assert [r["step"] for r in log] == ([1, 2, 3] if stage == "mpn" else [1, 2]), stage  # rank 0 alone writes
        assert len(torch.load(run / f"{stage}.resume.pt", weights_only=False)["ranks"]) == 2
    assert json.loads((run / "mrn.json").read_text())["step"] == 2
    assert export(run, tmp_path / "onnx", precisions=("fp32",)).stages == {s: f"{s}.onnx" for s in ("mpn", "qun", "mrn")}
    val = tmp_path / "val"
    assert train_main(["build-val", "--config", cfg, "--cache", cache, "--out", str(val)]) == 0
    assert train_main(["evaluate", "--run", str(run), "--val", str(val), "--out", str(tmp_path / "ev")]) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["whole"]["count"] == 4


def test_qun_masks_is_one_option_with_the_old_flag_as_alias():
    import argparse

    from train.cli import add_evaluate, add_train

    for add, required in ((add_train, ["--stage", "mrn", "--run", "r"]), (add_evaluate, ["--run", "r", "--out", "o"])):
        p = argparse.ArgumentParser()
        add(p)
        parse = lambda *a: p.parse_args([*required, *a]).qun_masks  # noqa: B023, E731
        assert (parse(), parse("--qun", "use"), parse("--qun", "none"), parse("--qun-masks", "coarse")) == ("all", "all", "none", "coarse")
        with pytest.raises(SystemExit):
            parse("--qun-masks", "some")


def test_model_card_header_follows_the_manifest_licence():
    from semhm_models.manifest import FORMAT, FileEntry, Manifest
    from train.publish import model_card

    files = {f"{s}.onnx": FileEntry("0" * 64, 1) for s in ("mpn", "qun", "mrn")}
    for weights, expected in (("Apache-2.0", "apache-2.0"), ("CC-BY-NC-4.0", "cc-by-nc-4.0"), ("research use only (BSDS500)", "other")):
        m = Manifest(FORMAT, "semhm", "0", {s: f"{s}.onnx" for s in ("mpn", "qun", "mrn")}, files, info={"licences": {"weights": weights}})
        meta = ModelCard(model_card(m, "me/tiny")).data
        assert (meta.license, meta.pipeline_tag, meta.library_name) == (expected, "image-segmentation", "onnx")
