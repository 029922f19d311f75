"""The rules of `classifier-robustness`, each mapped to MITRE ATLAS (evade ML model, craft
adversarial data)."""

from __future__ import annotations

from gate.models.finding import Severity, rule_maker

CHECK = "classifier-robustness"
TECHNIQUE = ("AML.T0015", "AML.T0043")

_rule = rule_maker(CHECK, technique=TECHNIQUE)

RULES = (
    _rule(
        "GATE-CR001",
        "robust-accuracy-below-threshold",
        Severity.HIGH,
        "Under a bounded evasion attack the classifier's accuracy falls below the policy's minimum.",
        "Inputs changed by an amount nobody notices (a few grey levels of an image, a small shift of each "
        "feature) change the model's answer: whoever controls the input chooses the output. Robust "
        "accuracy under the strongest attack run is what an attacker with that budget gets.",
        "linf:0.1: robust accuracy 36% (95% CI 30-43%) under FGSM and PGD, minimum 60% at tier high.",
        "Train with adversarial examples at the budget the policy names (PGD adversarial training), "
        "smooth or bound the inputs, and re-run the check; the reproductions list flipped examples.",
    ),
    _rule(
        "GATE-CR002",
        "robust-accuracy-drop-over-threshold",
        Severity.HIGH,
        "Accuracy under attack falls further below clean accuracy than the policy allows.",
        "A large gap between clean and robust accuracy means the model's decisions rest on features an "
        "attacker can move cheaply, even when the robust accuracy still clears its floor.",
        "feature:0.05: clean 97%, robust 41% (drop 56 points, at most 30).",
        "As for robust-accuracy-below-threshold: adversarial training at the policy's budget.",
    ),
    _rule(
        "GATE-CR003",
        "evaluation-set-too-small",
        Severity.HIGH,
        "Fewer examples were attacked than the policy's minimum for this tier.",
        "A rate measured on a handful of examples says little: ten examples give a 95% interval tens of "
        "points wide, so a small evaluation set could pass any threshold by chance.",
        "12 examples attacked; tier high needs at least 200.",
        "Ship a larger evaluation set (a held-out split the model never trained on) and raise `samples`.",
    ),
    _rule(
        "GATE-CR004",
        "clean-accuracy-below-threshold",
        Severity.HIGH,
        "The classifier's accuracy on its own evaluation set is below the policy's minimum.",
        "Robust accuracy cannot exceed clean accuracy; a model that is wrong without an attack, or an "
        "evaluation set that does not fit the model, makes every other number meaningless.",
        "Clean accuracy 41% on data/eval.csv with a minimum of 90%.",
        "Check that the evaluation set matches the model's input scaling and label order.",
    ),
    _rule(
        "GATE-CR005",
        "black-box-attacks-only",
        Severity.LOW,
        "The classifier was attacked black-box only: gradients were not available.",
        "Black-box attacks with a bounded query budget find fewer adversarial examples than gradient "
        "attacks, so the robust accuracy reported is an upper bound that may overstate robustness.",
        "skl2onnx's TreeEnsembleClassifier attacked with Square (1,000 queries per example).",
        "Export the model with standard operators the gate can differentiate, or raise the query budget.",
    ),
)
