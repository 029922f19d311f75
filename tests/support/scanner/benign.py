"""Benign model files written by the real libraries: the scanner must find nothing blocking in them."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'].strip() + '\\n' }}"
    "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{% endfor %}"
)


def _net():  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2)
    )


def torch_zip(out: Path) -> None:
    import torch

    torch.save(_net().state_dict(), out / "pytorch_model.bin")


def torch_legacy(out: Path) -> None:
    import torch

    torch.save(_net().state_dict(), out / "legacy.pt", _use_new_zipfile_serialization=False)


def torch_optimizer(out: Path) -> None:
    import torch

    net = _net()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.randn(3, 4)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, 10)
    torch.save(
        {
            "model": net.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "epoch": 3,
            "loss": 0.25,
            "bf16": torch.ones(2, dtype=torch.bfloat16),
        },
        out / "checkpoint.pt",
    )


def torch_legacy_optimizer(out: Path) -> None:
    import torch

    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(3, 4)).sum().backward()
    opt.step()
    torch.save(
        {"model": net.state_dict(), "optimizer": opt.state_dict()},
        out / "legacy_optim.pt",
        _use_new_zipfile_serialization=False,
    )


def safetensors_numpy(out: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    save_file(
        {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.zeros(3, dtype=np.int64)},
        str(out / "numpy.safetensors"),
        metadata={"format": "np"},
    )


def safetensors_torch(out: Path) -> None:
    from safetensors.torch import save_file

    save_file(_net().state_dict(), str(out / "model.safetensors"), metadata={"format": "pt"})


def _sklearn_model():  # type: ignore[no-untyped-def]
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    rf = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y)
    return {"lr": lr, "rf": rf}


def sklearn_pickle(out: Path) -> None:
    with open(out / "sklearn.pkl", "wb") as fh:
        pickle.dump(_sklearn_model(), fh, protocol=pickle.HIGHEST_PROTOCOL)


def sklearn_pickle_p2(out: Path) -> None:
    with open(out / "sklearn_p2.pkl", "wb") as fh:
        pickle.dump(_sklearn_model(), fh, protocol=2)


def sklearn_joblib(out: Path) -> None:
    import joblib

    joblib.dump(_sklearn_model(), out / "model.joblib")


def sklearn_joblib_compressed(out: Path) -> None:
    import joblib

    m = _sklearn_model()
    joblib.dump(m, out / "model_zlib.joblib", compress=3)
    for method in ("gzip", "bz2", "xz", "lzma"):
        joblib.dump(m, out / f"model_{method}.joblib", compress=(method, 3))


def numpy_files(out: Path) -> None:
    import numpy as np

    np.save(out / "array.npy", np.arange(10, dtype=np.float64))
    np.save(out / "strings.npy", np.array(["a", "bc"]))
    np.savez(out / "arrays.npz", a=np.ones((2, 2)), b=np.arange(3))
    np.savez_compressed(out / "arrays_compressed.npz", a=np.ones((20, 20)))


def onnx_files(out: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 2), dtype=np.float32), name="W")
    node = helper.make_node("MatMul", ["X", "W"], ["Y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        [w],
    )
    model = helper.make_model(graph, producer_name="model-gate-tests")
    onnx.save(model, str(out / "model.onnx"))
    ext = out / "ext"
    ext.mkdir(exist_ok=True)
    big = numpy_helper.from_array(np.ones((64, 2), dtype=np.float32), name="W")
    g2 = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        [big],
    )
    m2 = helper.make_model(g2, producer_name="model-gate-tests")
    onnx.save_model(
        m2,
        str(ext / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )


def gguf_file(out: Path, template: str = TEMPLATE, name: str = "model.gguf") -> None:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(out / name), "llama")
    w.add_block_count(1)
    w.add_context_length(128)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "</s>", "a", "b"])
    w.add_chat_template(template)
    w.add_tensor("tok_embd.weight", np.ones((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def hf_files(out: Path) -> None:
    (out / "config.json").write_text(
        json.dumps({"model_type": "gpt2", "n_layer": 2, "architectures": ["GPT2"]})
    )
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {"bos_token": "<s>", "eos_token": "</s>", "chat_template": TEMPLATE, "model_max_length": 128}
        )
    )
    (out / "multi_template_tokenizer_config.json").write_text(
        json.dumps(
            {
                "chat_template": [
                    {"name": "default", "template": TEMPLATE},
                    {"name": "tool_use", "template": "{% for m in messages %}{{ m.content }}{% endfor %}"},
                ]
            }
        )
    )
    (out / "generation_config.json").write_text(json.dumps({"max_new_tokens": 32}))
    (out / "chat_template.jinja").write_text(TEMPLATE)
    (out / "vocab.txt").write_text("a\nb\nc\n")
    (out / "special_tokens_map.json").write_text(json.dumps({"eos_token": "</s>"}))


def keras_files(out: Path) -> None:
    """Keras configs as Keras 3 writes them (keras itself is not a dependency)."""
    import zipfile

    import h5py
    import numpy as np

    cfg = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 4]},
                    "registered_name": None,
                },
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "config": {"units": 2, "activation": "relu"},
                    "registered_name": None,
                },
            ],
        },
        "registered_name": None,
    }
    with zipfile.ZipFile(out / "model.keras", "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        z.writestr("config.json", json.dumps(cfg))
        z.writestr("model.weights.h5", b"")
    with h5py.File(out / "model.h5", "w") as f:
        f.attrs["model_config"] = json.dumps(
            {
                "class_name": "Sequential",
                "config": {"layers": [{"class_name": "Dense", "config": {"units": 2}}]},
            }
        )
        f.create_dataset("w", data=np.ones(3))


BUILDERS: dict[str, Callable[[Path], None]] = {
    "torch_zip": torch_zip,
    "torch_legacy": torch_legacy,
    "torch_optimizer": torch_optimizer,
    "torch_legacy_optimizer": torch_legacy_optimizer,
    "safetensors_numpy": safetensors_numpy,
    "safetensors_torch": safetensors_torch,
    "sklearn_pickle": sklearn_pickle,
    "sklearn_pickle_p2": sklearn_pickle_p2,
    "sklearn_joblib": sklearn_joblib,
    "sklearn_joblib_compressed": sklearn_joblib_compressed,
    "numpy": numpy_files,
    "onnx": onnx_files,
    "gguf": gguf_file,
    "hf": hf_files,
    "keras": keras_files,
}


def build_all(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for fn in BUILDERS.values():
        fn(out)
    return out
