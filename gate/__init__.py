"""model-gate: a security gate for machine-learning model releases."""

__version__ = "0.1.0"
