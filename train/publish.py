"""Upload exported weights (ONNX + manifest) and a model card to the Hugging Face Hub."""

from __future__ import annotations

import json
from pathlib import Path

from semhm_models.manifest import Manifest
from semhm_models.weights import MANIFEST, read_manifest, verify

HUB_LICENSES = ("apache-2.0", "mit", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0")


def model_card(manifest: Manifest, repo_id: str) -> str:
    """The Hub's README.md for exported weights: a YAML header (licence of the weights as the manifest
    states it, ``other`` when the Hub has no identifier for it; pipeline_tag image-segmentation; library
    onnx) and what a user needs: use, limits, evaluation, training data, licences."""
    m, info = manifest, manifest.info
    weights_licence = str(info.get("licences", {}).get("weights", "apache-2.0")).lower()
    metrics = info.get("metrics", {})
    rows = "\n".join(
        f"| {name} | " + " | ".join(f"{v.get(k, float('nan')):.4f}" for k in ("sad", "mse", "grad", "conn")) + " |"
        for name, v in metrics.items()
        if isinstance(v, dict) and "sad" in v
    )
    data = json.dumps(info.get("training", {}), indent=1)
    licences = "\n".join(f"- {k}: {v}" for k, v in info.get("licences", {}).items())
    return f"""---
license: {weights_licence if weights_licence in HUB_LICENSES else "other"}
library_name: onnx
pipeline_tag: image-segmentation
tags: [image-segmentation, matting, human-matting, onnx, semhm]
---
# semhm weights: {repo_id}

Semantic human matting after Liu et al., "Boosting Semantic Human Matting with Coarse Annotations" (CVPR 2020):
MPN (mask prediction, 192x160) -> QUN (quality unification) -> MRN (matting refinement, full resolution),
exported to ONNX (`{", ".join(m.files)}`), each file's sha256 in `{MANIFEST}`. QUN takes
{"every mask" if m.qun_masks == "all" else "users' coarse masks only; MPN's go straight to MRN"}.
{"The `.fp16.onnx` files are for GPUs (same inputs and outputs, half the size)." if m.precisions else ""}

## Use

```
pip install 'semhm[cpu]'
semhm matte photo.jpg -o out/ --model hf://{repo_id}@<commit>
```

## Intended use and limits

Cutting out people in photos (portraits to full body), and refining a rough person mask into an alpha
matte. Trained on CCP street-fashion photos composited over BSDS500 backgrounds at 416x276, so it is
best on a single, clearly visible person; crowds, unusual poses, very fine hair and motion blur are
weaker. Not for identifying people.

## Evaluation (errors per pixel, whole image, lower is better)

| split | SAD | MSE | Grad | Conn |
|---|---|---|---|---|
{rows}

## Training data

```
{data}
```

## Licences

{licences}
"""


def publish(weights_dir: str, repo_id: str, revision: str | None = None, token: str | None = None, private: bool = False) -> str:
    """Create the repo if needed and upload the weights folder with a model card; returns the commit."""
    from huggingface_hub import HfApi

    folder = Path(weights_dir)
    manifest = read_manifest(folder)
    verify(folder, manifest)
    (folder / "README.md").write_text(model_card(manifest, repo_id))
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        revision=revision,
        allow_patterns=[MANIFEST, "README.md", *manifest.files],
        commit_message=f"semhm weights {manifest.version}",
    )
    return info.oid
