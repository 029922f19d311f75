"""Compliance evidence: framework mappings (data), the evidence pack built from a report, and
its renderings (JSON, Markdown, OSCAL assessment results).

The pack never claims compliance: it says, per requirement, what the gate showed, what failed,
what was accepted as risk and by whom, what it could not judge, and what is left to people.
"""
