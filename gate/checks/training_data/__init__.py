"""Check `training-data`: the datasets a release declares show no signs of poisoning.

Each dataset in release.yaml `datasets[]` with a `path` inside the release is
verified against its declared digest (from the release inventory, never
re-hashed) and streamed once through the indicators in `gate.datacheck`:
backdoor triggers, injected instructions, invisible Unicode, hidden markup,
near-duplicate floods and label conflicts, secrets and personal data, and
distribution shift against a dataset declared with role `reference`.

The package's face.

- `rules`: the rules and their documentation;
- `datasets`: a dataset's files and digests, read from the release inventory;
- `findings`: the findings each indicator's result becomes, one helper per indicator;
- `sharding`: a shard's recording, and the merge of all shards' states;
- `check`: the check, which runs the analysis over every declared dataset.
"""

from __future__ import annotations

from gate.checks.training_data.check import TrainingDataCheck
from gate.checks.training_data.datasets import actual_digest, dataset_files, verify_dataset_digests
from gate.checks.training_data.rules import CHECK, POISONING, RULES
from gate.checks.training_data.sharding import Sharding

__all__ = [
    "CHECK",
    "POISONING",
    "RULES",
    "Sharding",
    "TrainingDataCheck",
    "actual_digest",
    "dataset_files",
    "verify_dataset_digests",
]
