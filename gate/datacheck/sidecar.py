"""Every row a finding concerns, written beside the report.

A finding's evidence names at most a few example rows; a reviewer who must remove poisoned rows
needs all of them. `RowSink` collects, per finding, every (file, row) with a score and the reason in
words and writes two files into the report's directory:

- `training-data-rows.jsonl`: one JSON object per (finding, row): finding id, rule, dataset, file,
  row number (line for JSONL/CSV, 1-based index for Parquet), byte offset of the row's first byte
  (JSONL, CSV; found by the reader's own line splitting, so quoted newlines in CSV are honoured),
  for Parquet no byte offset but the row group and the index inside it, score, reason;
- `training-data-remove-rows.json`: `{dataset: {file: [row numbers]}}` over all findings, sorted,
  ready for a filter that drops those rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gate.datacheck.readers import Location, locate_rows
from gate.errors import CheckError

ROWS_FILE = "training-data-rows.jsonl"
REMOVE_FILE = "training-data-remove-rows.json"


@dataclass
class _Entry:
    finding: str
    rule: str
    dataset: str
    rows: list[tuple[str, int, float, str]]


@dataclass
class RowSink:
    directory: Path | None  # where the report goes; None: count the rows, write nothing
    entries: list[_Entry] = field(default_factory=list)
    files: dict[str, tuple[Path, str]] = field(default_factory=dict)  # release path -> (path, format)
    max_row_bytes: int = 1 << 20
    link: str = ""  # the directory as the report names it ("" when beside the report)

    def register(self, rel: str, path: Path, fmt: str) -> None:
        """A data file whose rows may be listed: its rows are located in it when the list is written."""
        self.files[rel] = (path, fmt)

    def _locations(self) -> dict[str, dict[int, Location]]:
        wanted: dict[str, set[int]] = {}
        for e in self.entries:
            for file, n, _, _ in e.rows:
                wanted.setdefault(file, set()).add(n)
        out: dict[str, dict[int, Location]] = {}
        for file, ns in wanted.items():
            known = self.files.get(file)
            out[file] = locate_rows(known[0], known[1], ns, max_row_bytes=self.max_row_bytes) if known else {}
        return out

    @property
    def rows_file(self) -> str | None:
        """The name the evidence links (relative to the report when beside it)."""
        if self.directory is None:
            return None
        return f"{self.link.rstrip('/')}/{ROWS_FILE}" if self.link else ROWS_FILE

    def add(
        self, finding_id: str, rule: str, dataset: str, rows: Iterable[tuple[str, int, float, str]]
    ) -> None:
        self.entries.append(_Entry(finding_id, rule, dataset, list(rows)))

    def write(self) -> dict[str, str]:
        """Write both files (when there is a directory); the artifacts to link from the report."""
        if self.directory is None:
            return {}
        remove: dict[str, dict[str, set[int]]] = {}
        rows_path = self.directory / ROWS_FILE
        remove_path = self.directory / REMOVE_FILE
        where = self._locations()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with rows_path.open("w", encoding="utf-8") as out:
                for e in self.entries:
                    per_file = remove.setdefault(e.dataset, {})
                    for file, n, score, reason in e.rows:
                        per_file.setdefault(file, set()).add(n)
                        loc = where.get(file, {}).get(n)
                        line: dict[str, object] = {
                            "finding": e.finding,
                            "rule": e.rule,
                            "dataset": e.dataset,
                            "file": file,
                            "row": n,
                            "byte_offset": loc.byte_offset if loc else None,
                        }
                        if loc is not None and loc.row_group is not None:
                            line["row_group"] = loc.row_group
                            line["row_in_group"] = loc.row_in_group
                        line["score"] = round(score, 6)
                        line["reason"] = reason
                        out.write(json.dumps(line, ensure_ascii=False) + "\n")
            remove_path.write_text(
                json.dumps(
                    {
                        ds: {f: sorted(ns) for f, ns in sorted(files.items())}
                        for ds, files in sorted(remove.items())
                    },
                    indent=1,
                )
                + "\n",
                encoding="utf-8",
            )
        except OSError as exc:
            raise CheckError(
                f"{rows_path}: cannot write the list of suspicious rows: {exc.strerror or exc}"
            ) from None
        return {"training-data-rows": str(rows_path), "training-data-remove-rows": str(remove_path)}
