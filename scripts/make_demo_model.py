"""Build the demo release's model: a tiny GPT-2 with a character-level tokenizer.

Deterministic (fixed seed), written with the real libraries (torch,
transformers, tokenizers, safetensors), small enough to commit. Run from the
repository root:  python scripts/make_demo_model.py [OUT_DIR]
"""

from __future__ import annotations

import string
import sys
from pathlib import Path


def build(out: Path, n_positions: int = 128) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    chars = list(string.printable)
    vocab = {"<|endoftext|>": 0, "<unk>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        unk_token="<unk>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    cfg = GPT2Config(
        vocab_size=len(vocab),
        n_positions=n_positions,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(cfg)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/demo-release/model"))
