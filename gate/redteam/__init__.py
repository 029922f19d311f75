"""The adversarial suite: garak run against a release's endpoint, judged by policy.

- `runner`: garak as a subprocess (generator config per endpoint type, private
  data dirs, timeout, process-group kill);
- `report`: the parser for garak's report.jsonl and hitlog, which fails closed;
- `judge`: attack success rates, Wilson intervals, thresholds, baseline regression;
- `catalog`: the technique mapping table and the probe sets (data files);
- `cache`: per-probe results keyed by model, endpoint, probe, garak version, settings;
- `shard` / `merge`: deterministic slices of a probe set and joining their reports;
- `guard` / `guard_server` / `guarded` / `guard_record`: the release's runtime guard started on loopback in a
  child process, and the two runs (guarded, bare) with the guard's block and false-refusal rates;
- `live`: read-only, bounded probes of the endpoint's authentication, rate limit and exposure;
- `demo_server` / `demo_guard`: loopback stand-ins for the demo (model, gateway controls, an
  external Lakera-compatible guard).

garak itself is imported only by the subprocess: this package stays light.
"""
