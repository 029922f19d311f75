"""Check `dependencies`: pip-audit on the release's pinned serving dependencies.

- pins.py: requirements files and lock files -> exact pins (and problems);
- audit.py: pip-audit as a subprocess, its JSON, OSV records for severities;
- cvss.py: CVSS v2, v3 and v4 base scores from vectors (the `cvss` library);
- check.py: policy, rules and findings.
"""

from gate.checks.dependencies.check import RULES, DependenciesCheck, DependenciesConfig

__all__ = ["RULES", "DependenciesCheck", "DependenciesConfig"]
