"""Regenerate the scikit-learn part of gate/data/pickle_allowlist.yaml.

The other groups are curated by hand in the YAML file. This script lists the
estimator classes scikit-learn exposes (plus the internal types their fitted
state pickles: trees, loss objects, neighbour trees) and rewrites the
`sklearn` group. Run from the repository root after upgrading scikit-learn:
    python scripts/gen_pickle_allowlist.py
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "gate" / "data" / "pickle_allowlist.yaml"
INTERNAL_MODULES = [
    "sklearn.tree._tree",
    "sklearn._loss.loss",
    "sklearn._loss.link",
    "sklearn._loss._loss",
    "sklearn.neighbors._kd_tree",
    "sklearn.neighbors._ball_tree",
    "sklearn.utils._bunch",
    "sklearn.ensemble._hist_gradient_boosting.predictor",
    "sklearn.ensemble._hist_gradient_boosting.binning",
    "sklearn.metrics._dist_metrics",
    "sklearn.neural_network._stochastic_optimizers",
    "sklearn.linear_model._sgd_fast",
]
# Reconstruction helpers fitted estimators pickle by name, checked by hand:
EXTRA_NAMES = [
    # A private estimator class (HistGradientBoosting's feature binner), constructed like any estimator.
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    # `def newObj(obj): return obj.__new__(obj)`: what pickle's NEWOBJ does with no arguments; the
    # class it is handed must itself be imported, and so be on the allowlist.
    "sklearn.neighbors._kd_tree.newObj",
    "sklearn.neighbors._ball_tree.newObj",
    "sklearn.metrics._dist_metrics.newObj",
    # Listed by earlier scikit-learn versions' all_estimators(); a fitted model may still hold them.
    "sklearn.ensemble._gb.BaseGradientBoosting",
    "sklearn.ensemble._gb.VerboseReporter",
]


def sklearn_names() -> list[str]:
    warnings.filterwarnings("ignore")
    from sklearn.utils import all_estimators

    names = {f"{c.__module__}.{c.__qualname__}" for _, c in all_estimators()}
    for m in INTERNAL_MODULES:
        mod = importlib.import_module(m)
        for k, v in vars(mod).items():
            if inspect.isclass(v) and v.__module__ == m and not k.startswith("_"):
                names.add(f"{m}.{v.__qualname__}")
    for n in EXTRA_NAMES:
        module, _, attr = n.rpartition(".")
        getattr(importlib.import_module(module), attr)  # fails loudly when scikit-learn renames it
        names.add(n)
    return sorted(names)


def main() -> None:
    text = DATA.read_text("utf-8")
    block = "".join(f"    - {n}\n" for n in sklearn_names())
    new, count = re.subn(
        r"(  sklearn:\n(?:    #.*\n)*    names:\n)(?:    - .*\n)+", lambda m: m.group(1) + block, text
    )
    if count != 1:
        raise SystemExit("sklearn group not found in the allowlist file")
    DATA.write_text(new, "utf-8")
    print(f"wrote {DATA}")


if __name__ == "__main__":
    main()
