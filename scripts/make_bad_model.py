"""Build the bad release's malicious checkpoint: a real torch zip whose data.pkl calls os.system.

The command only prints a line, but `torch.load(..., weights_only=False)` runs
it: that is what `model-gate check examples/bad-release` must block. Run from
the repository root:  python scripts/make_bad_model.py [OUT_FILE]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

OUT = Path("examples/bad-release/model/pytorch_model.bin")


class Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, ("echo 'model-gate demo: this command ran while the model loaded'",)


def build(out: Path) -> None:
    import torch

    torch.manual_seed(0)
    state = {"classifier.weight": torch.randn(2, 4), "classifier.bias": torch.zeros(2), "_": Payload()}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
