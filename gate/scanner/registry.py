"""The explicit mapping from format to analyser. A test checks it covers every `Format`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache

from gate.scanner.interface import Context, Format, Target

Analyser = Callable[[Target, Context], None]

# format -> "module:function" (imported on first use: onnx, h5py and jinja2 stay lazy)
ANALYSERS: dict[Format, str] = {
    Format.PICKLE: "gate.scanner.pickles:analyse",
    Format.TORCH_ZIP: "gate.scanner.zips:analyse",
    Format.ZIP: "gate.scanner.zips:analyse",
    Format.TORCH_LEGACY: "gate.scanner.torch_files:analyse_legacy",
    Format.TORCH_TAR: "gate.scanner.torch_files:analyse_tar",
    Format.NUMPY: "gate.scanner.numpy_files:analyse",
    Format.GZIP: "gate.scanner.compressed:analyse_gzip",
    Format.BZIP2: "gate.scanner.compressed:analyse_bzip2",
    Format.XZ: "gate.scanner.compressed:analyse_xz",
    Format.LZMA: "gate.scanner.compressed:analyse_lzma",
    Format.ZLIB: "gate.scanner.compressed:analyse_zlib",
    Format.JOBLIB_ZFILE: "gate.scanner.compressed:analyse_zfile",
    Format.SAFETENSORS: "gate.scanner.safetensors_files:analyse",
    Format.ONNX: "gate.scanner.onnx_files:analyse",
    Format.GGUF: "gate.scanner.gguf_files:analyse",
    Format.HDF5: "gate.scanner.keras_files:analyse_h5",
    Format.JSON: "gate.scanner.hf_files:analyse_json",
    Format.JINJA: "gate.scanner.hf_files:analyse_jinja",
    Format.PYTHON: "gate.scanner.hf_files:analyse_python",
    Format.TEXT: "gate.scanner.hf_files:analyse_nothing",
    Format.DATA: "gate.scanner.hf_files:analyse_nothing",
    Format.EMPTY: "gate.scanner.hf_files:analyse_nothing",
    Format.UNKNOWN: "gate.scanner.hf_files:analyse_unknown",
}


@cache
def analyser_for(fmt: Format) -> Analyser:
    module, _, name = ANALYSERS[fmt].partition(":")
    fn: Analyser = getattr(importlib.import_module(module), name)
    return fn
