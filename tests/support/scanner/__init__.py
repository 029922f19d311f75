"""Builders and helpers of the model-file scanner tests."""
