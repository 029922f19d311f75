"""`model-gate init`: a commented release.yaml for an existing model folder."""

from __future__ import annotations

from pathlib import Path

from gate.errors import InputError
from gate.models.manifest import MANIFEST_NAME
from gate.safewrite import write_file

SUFFIX_FORMAT = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".onnx": "onnx",
    ".keras": "keras",
    ".h5": "hdf5",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".bin": "pytorch",
    ".ckpt": "pytorch",
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".npy": "numpy",
    ".npz": "numpy",
}

TEMPLATE = """\
# release.yaml: what this model release declares about itself.
# Every path is relative to this directory and must stay inside it.
# Reference: README.md, section "release.yaml". Validate with: model-gate check .
schema_version: 1
name: {name}            # TODO: a stable name for the model
version: 0.1.0          # TODO: the release version
description: TODO one line on what the model does

model:
  path: {model_path}    # directory (or file) holding the model files
  format: {fmt}         # safetensors | pytorch | onnx | gguf | keras | hdf5 | sklearn | joblib | ...
  task: TODO            # e.g. text-generation, text-classification
  # generative: false   # derived from task when unset

# base_model:           # what it was fine-tuned from, pinned
#   source: hf://org/base-model
#   revision: 0123abcd  # commit
#   digest: sha256:...

# datasets:
#   - name: fine-tuning-set
#     source: s3://bucket/data.jsonl
#     digest: sha256:...
#     path: data/train.jsonl   # when shipped with the release

intended_use:
  description: TODO who uses it, for what
  users: []
  use_cases: []
  out_of_scope: []
limitations: []

# The deployment context decides the risk tier (model-gate tier .).
deployment:
  exposure: internal          # internal | partner | public
  data_sensitivity: none      # none | internal | personal | financial | special-category
  autonomy: advisory          # advisory | human-in-the-loop | autonomous
  safety_critical: false
  domains: []                 # EU AI Act Annex III areas / Art. 5 practices, e.g. [employment]
  user_scale: 100             # expected users

# endpoint:                   # what the adversarial suite attacks
#   type: openai              # openai | rest | huggingface | callable
#   url: http://127.0.0.1:8000/v1
#   model: my-model
#   api_key_env: MODEL_API_KEY

# signature: model.sig        # OpenSSF model-signing bundle
# provenance: provenance.intoto.jsonl
serving:
  # requirements: requirements.txt
  manifests: []
monitoring:
  # config: monitoring.yaml
  prometheus_rules: []
"""


def guess_model(root: Path) -> tuple[str, str]:
    counts: dict[tuple[str, str], int] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.suffix.lower() in SUFFIX_FORMAT:
            rel = p.parent.relative_to(root).as_posix()
            key = (rel if rel != "." else p.name, SUFFIX_FORMAT[p.suffix.lower()])
            counts[key] = counts.get(key, 0) + p.stat().st_size
    if not counts:
        return "model/", "other"
    (path, fmt), _ = max(counts.items(), key=lambda kv: kv[1])
    return (path + "/" if (root / path).is_dir() else path), fmt


def write_template(path: Path, *, force: bool = False) -> Path:
    if not path.is_dir():
        raise InputError(f"{path}: not a directory")
    target = path / MANIFEST_NAME
    if target.exists() and not force:
        raise InputError(f"{target}: already exists", hint="Use --force to overwrite it.")
    model_path, fmt = guess_model(path)
    name = path.resolve().name or "model"
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("-.") or "model"
    text = TEMPLATE.format(name=safe, model_path=model_path, fmt=fmt)
    write_file(target, text, what="release.yaml", overwrite=force)
    return target
