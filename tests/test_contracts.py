"""The tensor table is data: it makes the README's table, the names and dynamic axes of the ONNX files (the
bundled ones included), and files from before the "fg" -> "fg_mask" rename still load with the same alpha."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from semhm_models import Matter, contracts, weights
from semhm_models.manifest import FileEntry
from tests.conftest import ROOT


def test_readme_table_is_generated_from_the_contracts():
    readme = (ROOT / "README.md").read_text().split("<!-- onnx-table -->\n", 1)[1]
    table = contracts.markdown_table().splitlines()
    assert readme.splitlines()[: len(table)] == table
    assert contracts.markdown_table() in contracts.__doc__


@pytest.mark.parametrize("folder", ["bundled", "tiny"])
def test_onnx_files_follow_the_table(folder, tiny_weights):
    from semhm_models.runtime import create_session

    w = weights.resolve(None if folder == "bundled" else str(tiny_weights))
    for stage in contracts.STAGES:
        for precision in w.precisions:
            s = create_session(str(w.path(stage, precision)), "cpu", 1)
            for args, rows in ((s.get_inputs(), contracts.tensors(stage, "input")), (s.get_outputs(), contracts.tensors(stage, "output"))):
                assert [a.name for a in args] == [t.name for t in rows]
                for a, t in zip(args, rows, strict=True):
                    assert a.type == "tensor(float)"
                    axes = contracts.dynamic_axes(stage)[t.name]
                    assert [axes.get(i, d) for i, d in enumerate(a.shape)] == [contracts.AXIS_NAMES.get(d, d) for d in t.shape]
            feeds = {
                t.name: np.zeros(shp, np.float32)
                for t, shp in zip(contracts.tensors(stage, "input"), contracts.example_shapes(stage), strict=True)
            }
            assert len(s.run(None, feeds)) == len(contracts.OUTPUTS[stage])


def test_the_guided_filter_follows_the_table():
    from semhm_models.api import GUIDED_FILE
    from semhm_models.runtime import create_session

    s = create_session(str(GUIDED_FILE), "cpu", 1)
    types = {"float32": "tensor(float)", "int64": "tensor(int64)"}
    for args, rows in ((s.get_inputs(), contracts.tensors("guided", "input")), (s.get_outputs(), contracts.tensors("guided", "output"))):
        assert [(a.name, a.type, a.shape) for a in args] == [
            (t.name, types[t.dtype], [contracts.AXIS_NAMES.get(d, d) for d in t.shape]) for t in rows
        ]
    low = np.zeros((1, 3, 5, 4), np.float32)
    coef_fg, coef_alpha = s.run(None, {"alpha": low[:, :1], "fgr": low, "image": low, "width": np.array([9], np.int64)})
    assert coef_fg.shape == (2, 5, 9, 3) and coef_alpha.shape == (2, 5, 9) and coef_fg.dtype == coef_alpha.dtype == np.float32


def test_dynamic_axes_and_example_shapes():
    lowres = {0: "batch", 2: "mask_height", 3: "mask_width"}
    assert contracts.dynamic_axes("mpn") == {"image_lr": lowres, "masks": lowres, "fg_mask": lowres}
    assert contracts.dynamic_axes("qun") == {"image_lr": lowres, "mask": lowres, "fg_mask": lowres, "unified": lowres}
    assert contracts.dynamic_axes("mrn")["mask"] == {0: "batch", 2: "mask_height", 3: "mask_width"}
    assert contracts.dynamic_axes("mrn")["alpha"] == {0: "batch", 2: "height", 3: "width"}
    assert contracts.example_shapes("mrn", (67, 93), batch=2) == [(2, 3, 67, 93), (2, 1, 192, 160)]
    assert contracts.example_shapes("qun") == [(1, 3, 192, 160), (1, 1, 192, 160), (1, 1, 192, 160)]
    assert contracts.example_shapes("mpn", lowres_hw=(128, 224)) == [(1, 3, 128, 224)]
    assert contracts.OUTPUTS["mpn"] == ("masks", "fg_mask")


def test_weights_from_before_the_rename_give_the_same_alpha(tiny_weights, tmp_path, photo):
    onnx = pytest.importorskip("onnx")
    old = tmp_path / "old"
    shutil.copytree(tiny_weights, old)
    man = weights.read_manifest(old)
    files = dict(man.files)
    for name in ("mpn.onnx", "mpn.fp16.onnx"):
        m = onnx.load(str(old / name))
        for node in m.graph.node:
            node.output[:] = ["fg" if o == "fg_mask" else o for o in node.output]
        for o in m.graph.output:
            o.name = "fg" if o.name == "fg_mask" else o.name
        onnx.save(m, str(old / name))
        files[name] = FileEntry(weights.sha256(old / name), (old / name).stat().st_size)
    from dataclasses import replace

    replace(man, files=files, qun_masks="all").write(old / "manifest.json")
    new = tmp_path / "new"
    shutil.copytree(tiny_weights, new)
    replace(weights.read_manifest(new), qun_masks="all").write(new / "manifest.json")
    a_old = Matter.from_pretrained(str(old), provider="cpu", threads=1)
    a_new = Matter.from_pretrained(str(new), provider="cpu", threads=1)
    assert (a_old.mpn_mask, a_new.mpn_mask) == ("fg", "fg_mask")
    assert np.array_equal(a_old(photo).alpha, a_new(photo).alpha)
    bound = Matter.from_pretrained(str(old), provider="cpu", threads=1, binding="on")  # the I/O-bound runner reads it too
    assert np.array_equal(bound(photo).alpha, a_new(photo).alpha)
