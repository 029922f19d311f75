"""Training-data analysis: streaming readers and one module per poisoning indicator.

The readers (`readers`) turn JSONL, CSV and Parquet files into one row model
(`rows.Row`); `analyze` runs every indicator over the rows in one streaming
pass (plus a cheap second pass for trigger candidates) with memory bounded by
configuration, never by the dataset's size. The check that turns the results
into findings is `gate.checks.training_data`.
"""
