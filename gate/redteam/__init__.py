"""The adversarial suite: garak run against a release's endpoint, judged by policy.

- `runner`: garak as a subprocess (generator config per endpoint type, private
  data dirs, timeout, process-group kill);
- `report`: the parser for garak's report.jsonl and hitlog, which fails closed;
- `judge`: attack success rates, Wilson intervals, thresholds, baseline regression;
- `catalog`: the technique mapping table and the probe sets (data files);
- `cache`: per-probe results keyed by model, endpoint, probe, garak version, settings;
- `shard` / `merge`: deterministic slices of a probe set and joining their reports.

garak itself is imported only by the subprocess: this package stays light.
"""
