"""Build gate/data/redteam/techniques.json from the installed garak's probe tags.

For every probe class garak ships, read its class attributes (`tags`, `goal`,
`primary_detector`, `extended_detectors`, `active`) and derive:
- the gate's attack category (ordered rules over the tags, below);
- OWASP Top 10 for LLM Applications 2025 ids, translated from garak's
  `owasp:llmNN` tags (which use the 2023 numbering) plus the category's own id;
- MITRE ATLAS technique ids from the category.

The rules are data in this script, reviewed like code; the output is committed
and versioned (`version`, `garak`). Re-run after changing the pinned garak:

    python scripts/build_redteam_techniques.py
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "gate" / "data" / "redteam" / "techniques.json"
TABLE_VERSION = 1

# garak tags OWASP with the 2023 (v1.1) list; the gate reports the 2025 list.
OWASP_2023_TO_2025 = {
    "llm01": "LLM01:2025",  # prompt injection
    "llm02": "LLM05:2025",  # insecure output handling -> improper output handling
    "llm03": "LLM04:2025",  # training data poisoning -> data and model poisoning
    "llm04": "LLM10:2025",  # model denial of service -> unbounded consumption
    "llm05": "LLM03:2025",  # supply chain
    "llm06": "LLM02:2025",  # sensitive information disclosure
    "llm07": "LLM06:2025",  # insecure plugin design -> excessive agency
    "llm08": "LLM06:2025",  # excessive agency
    "llm09": "LLM09:2025",  # overreliance -> misinformation
    "llm10": "LLM10:2025",  # model theft -> unbounded consumption (model extraction)
}

CATEGORIES = {
    "prompt-injection": {
        "title": "Prompt injection",
        "owasp": ["LLM01:2025"],
        "atlas": ["AML.T0051"],
        "mitigation": "Keep instructions and untrusted content apart (delimit and label retrieved or user "
        "text), filter inputs for injected instructions, constrain what the model's output may trigger, "
        "and fine-tune or prompt the model to ignore instructions inside data.",
    },
    "jailbreak": {
        "title": "Jailbreak",
        "owasp": ["LLM01:2025"],
        "atlas": ["AML.T0054"],
        "mitigation": "Add safety fine-tuning or a guard model on inputs and outputs for the persona, "
        "role-play and suffix attacks that succeeded; re-test with the reproductions below.",
    },
    "insecure-output": {
        "title": "Improper output handling",
        "owasp": ["LLM05:2025"],
        "atlas": ["AML.T0051.001", "AML.T0057"],
        "mitigation": "Treat model output as untrusted: encode it for the renderer (HTML, Markdown, "
        "terminal), strip remote images and links, never pass it to SQL, templates or a shell.",
    },
    "data-leakage": {
        "title": "Sensitive information disclosure",
        "owasp": ["LLM02:2025"],
        "atlas": ["AML.T0057", "AML.T0024"],
        "mitigation": "Deduplicate and scrub training data, filter outputs for secrets and memorised "
        "text, and rate-limit extraction-style prompting.",
    },
    "malicious-code": {
        "title": "Malicious code generation",
        "owasp": [],
        "atlas": ["AML.T0048"],
        "mitigation": "Add refusal training or an output classifier for malware requests; restrict code "
        "generation to the use cases the release is meant for.",
    },
    "misinformation": {
        "title": "Misinformation",
        "owasp": ["LLM09:2025"],
        "atlas": ["AML.T0048"],
        "mitigation": "Ground answers in retrieved sources, train the model to say it does not know, "
        "and tell users where answers need checking.",
    },
    "harmful-content": {
        "title": "Harmful content",
        "owasp": [],
        "atlas": ["AML.T0048"],
        "mitigation": "Add safety fine-tuning or a moderation model on outputs for the content classes "
        "that got through.",
    },
    "other": {
        "title": "Other adversarial behaviour",
        "owasp": [],
        "atlas": [],
        "mitigation": "Review the reproductions and add a targeted defence.",
    },
}

# Ordered: the first rule whose predicate matches a probe's tags decides its category.
RULES: list[tuple[str, tuple[str, ...]]] = [
    (
        "insecure-output",
        ("payload:malicious:renderer", "cwe:79", "cwe:89", "cwe:94", "quality:Security:Integrity"),
    ),
    ("jailbreak", ("payload:jailbreak", "demon:Fictionalizing:Roleplaying:")),
    (
        "data-leakage",
        ("payload:leak:", "quality:Security:ExtractionInversion", "quality:Security:Confidentiality"),
    ),
    ("prompt-injection", ("quality:Security:PromptStability", "demon:Language:Prompt_injection:")),
    ("malicious-code", ("payload:malicious:badcode", "euai:offensive:")),
    ("misinformation", ("payload:hallucination", "Misinformation", "euai:deception:hallucination")),
    (
        "harmful-content",
        ("quality:Behavioral:ContentSafety:", "payload:unwanted:", "risk-cards:lmrc:", "avid-effect:ethics:"),
    ),
    ("prompt-injection", ("owasp:llm01",)),
]


def category_of(tags: list[str]) -> str:
    for cat, needles in RULES:
        if any(n in t for t in tags for n in needles):
            return cat
    return "other"


def main() -> int:
    import garak
    from garak import _config
    from garak._plugins import enumerate_plugins

    _config.load_base_config()
    probes: dict[str, dict[str, object]] = {}
    for full, active in enumerate_plugins("probes"):
        name = full.removeprefix("probes.")
        module, _, cls_name = name.rpartition(".")
        cls = getattr(importlib.import_module(f"garak.probes.{module}"), cls_name)
        # Class attributes, read before any instance exists: some probes append to them on init.
        tags = list(dict.fromkeys(getattr(cls, "tags", []) or []))
        owasp_raw = sorted({t.split(":", 1)[1] for t in tags if t.startswith("owasp:")})
        cat = category_of(tags)
        owasp = sorted({OWASP_2023_TO_2025[o] for o in owasp_raw if o in OWASP_2023_TO_2025})
        owasp = sorted(set(owasp) | set(CATEGORIES[cat]["owasp"]))  # type: ignore[arg-type]
        probes[name] = {
            "category": cat,
            "owasp": owasp,
            "atlas": CATEGORIES[cat]["atlas"],
            "active": bool(active),
            "goal": getattr(cls, "goal", "") or "",
            "primary_detector": getattr(cls, "primary_detector", None),
            "extended_detectors": sorted(getattr(cls, "extended_detectors", []) or []),
            "garak_tags": tags,
        }
    table = {
        "version": TABLE_VERSION,
        "garak": garak.__version__,
        "source": "built by scripts/build_redteam_techniques.py from garak's probe tags",
        "categories": CATEGORIES,
        "probes": dict(sorted(probes.items())),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n", "utf-8")
    counts: dict[str, int] = {}
    for p in probes.values():
        counts[str(p["category"])] = counts.get(str(p["category"]), 0) + 1
    print(f"{len(probes)} probes from garak {garak.__version__} -> {OUT}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
