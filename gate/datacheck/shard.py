"""The training-data analysis split over shards (`check --shard I/N`) and merged exactly.

Split. The data files of every dataset a check reads (release.yaml order, files in reading order)
are laid end to end; shard I of N takes the rows whose first byte lies in bytes
[T(I-1)/N, TI/N) of that line (T = their total size). A JSONL row starts at its line, a CSV row at
its record (found by parsing from the file's start, so quoted newlines never split a record); a
Parquet row i of R rows in a file of S bytes stands at byte i*S/R. Every row falls in exactly one
shard, whatever N, and shards differ in size by one row at most of bytes.

State. A shard writes what it found:
- for the indicators that judge each row on its own (injected instructions, invisible Unicode,
  hidden markup, secrets, personal data, malformed rows, lengths and labels): their tallies, which
  join in shard order (counts add up, examples and row lists concatenate);
- for the indicators whose result depends on the order rows are read in (near-duplicate sets,
  backdoor triggers): each row's inputs, already computed (MinHash signature, label, response
  pattern, prompt tokens, row number, byte offset). The merge replays them in reading order through
  the same code a single run uses, so the result is the single run's, not an approximation of it.

The state is a NumPy `.npz` archive (no pickles: it is read with `allow_pickle=False`) with a JSON
header that binds it to the files (path, size, sha256), the settings and the split. The prompt
tokens make it about as large as the shard's text; the merge reads the release again only to quote
the few rows a finding shows (by byte offset).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.datacheck.common import Example, RowSet, Tally
from gate.datacheck.config import TrainingDataConfig
from gate.datacheck.injection import InjectionTallies
from gate.datacheck.readers import BATCH, BadRows, Span, read_row
from gate.datacheck.rows import Row
from gate.datacheck.secrets import SecretTallies
from gate.datacheck.triggers import Outcomes
from gate.datacheck.vocab import SENTINEL, K, tokenize
from gate.errors import InputError

FORMAT = "model-gate/training-data-shard/v1"
STATE_MAX_BYTES = 64 * 1024**3
SIG_BYTES = 2 * K


@dataclass(frozen=True)
class FileInfo:
    rel: str
    fmt: str
    size: int
    sha256: str


def split(datasets: list[list[FileInfo]], i: int, n: int) -> list[dict[str, Span]]:
    """Per dataset, the byte span of each of its files that shard i of n reads; files it does not
    touch are absent. An empty file (no rows, but possibly unreadable) goes to the shard holding
    its position."""
    total = sum(f.size for files in datasets for f in files)
    lo, hi = total * (i - 1) // n, total * i // n
    out: list[dict[str, Span]] = []
    base = 0
    for files in datasets:
        spans: dict[str, Span] = {}
        for f in files:
            if f.size == 0:
                if lo <= base < hi or (base == total and i == n):
                    spans[f.rel] = (0, None)
            elif base < hi and lo < base + f.size:
                spans[f.rel] = (max(lo - base, 0), None if hi - base >= f.size else hi - base)
            base += f.size
        out.append(spans)
    return out


def config_digest(cfg: TrainingDataConfig) -> str:
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()


class Recorder:
    """Collects the order-dependent indicators' inputs of a shard's rows, in reading order."""

    def __init__(self, files: list[FileInfo]) -> None:
        self.file_index = {f.rel: k for k, f in enumerate(files)}
        self.file: list[int] = []
        self.n: list[int] = []
        self.offset: list[int] = []
        self.label: list[int] = []
        self.pattern: list[int] = []
        self.sig = bytearray()
        self.has_sig: list[bool] = []
        self.ntok: list[Any] = []  # per batch: tokens of each row (NumPy)
        self.tok: list[Any] = []  # per batch: the rows' token ids, end to end (NumPy)
        self.words: dict[str, int] = {}
        self.labels: dict[str, int] = {}
        self.patterns: dict[str, int] = {}

    def add(self, rel: str, rows: list[Row], sigs: list[Any]) -> None:
        k = self.file_index[rel]
        import numpy as np

        ids = self.words
        flat = np.fromiter(
            (ids.setdefault(w, len(ids)) for w in tokenize([r.prompt for r in rows])), dtype=np.int32
        )
        sentinel = ids.get(SENTINEL, -1)
        cuts = np.flatnonzero(flat == sentinel)
        self.ntok.append(np.diff(np.concatenate(([-1], cuts, [len(flat)]))).astype(np.int32) - 1)
        self.tok.append(flat[flat != sentinel])
        for r, sig in zip(rows, sigs, strict=True):
            self.file.append(k)
            self.n.append(r.n)
            self.offset.append(-1 if r.offset is None else r.offset)
            self.label.append(-1 if r.label is None else self.labels.setdefault(r.label, len(self.labels)))
            p = Outcomes.pattern_of(r)
            self.pattern.append(-1 if p is None else self.patterns.setdefault(p, len(self.patterns)))
            self.has_sig.append(sig is not None)
            self.sig += sig[0] if sig is not None else bytes(SIG_BYTES)

    def arrays(self) -> dict[str, Any]:
        import numpy as np

        return {
            "file": np.asarray(self.file, dtype=np.int32),
            "n": np.asarray(self.n, dtype=np.int64),
            "offset": np.asarray(self.offset, dtype=np.int64),
            "label": np.asarray(self.label, dtype=np.int32),
            "pattern": np.asarray(self.pattern, dtype=np.int32),
            "sig": np.frombuffer(bytes(self.sig), dtype=np.uint8).reshape(-1, SIG_BYTES),
            "has_sig": np.asarray(self.has_sig, dtype=bool),
            "ntok": np.concatenate(self.ntok) if self.ntok else np.zeros(0, dtype=np.int32),
            "tok": np.concatenate(self.tok) if self.tok else np.zeros(0, dtype=np.int32),
        }

    def tables(self) -> dict[str, list[str]]:
        return {"words": list(self.words), "labels": list(self.labels), "patterns": list(self.patterns)}


# -- tallies <-> JSON -------------------------------------------------------------------------------


def _rowset_json(rs: RowSet) -> dict[str, list[int]]:
    return {f: list(v) for f, v in rs.by_file.items()}


def _rowset(data: dict[str, list[int]]) -> RowSet:
    rs = RowSet()
    for f, ns in data.items():
        rs.extend(str(f), [int(x) for x in ns])
    return rs


def _tally_json(t: Tally) -> dict[str, Any]:
    return {
        "limit": t.limit,
        "rows": t.rows,
        "parts": dict(t.parts),
        "extra": dict(t.extra),
        "examples": [[e.file, e.row, e.part, e.text] for e in t.examples],
        "all": _rowset_json(t.all),
    }


def _tally(d: dict[str, Any]) -> Tally:
    t = Tally(int(d["limit"]))
    t.rows = int(d["rows"])
    t.parts = Counter({str(k): int(v) for k, v in d["parts"].items()})
    t.extra = Counter({str(k): int(v) for k, v in d["extra"].items()})
    t.examples = [Example(str(f), int(r), str(p), str(x)) for f, r, p, x in d["examples"]]
    t.all = _rowset(d["all"])
    return t


def _join_tally(a: Tally, b: Tally) -> Tally:
    a.rows += b.rows
    a.parts.update(b.parts)
    a.extra.update(b.extra)
    a.examples = (a.examples + b.examples)[: a.limit]
    for f, ns in b.all.by_file.items():
        a.all.extend(f, list(ns))
    return a


def _join_tables(a: dict[str, Tally], b: dict[str, Tally]) -> None:
    for k, t in b.items():
        a[k] = _join_tally(a[k], t) if k in a else t


def injection_json(t: InjectionTallies) -> dict[str, Any]:
    return {
        "limit": t.limit,
        "refused": t.refused,
        "template_rows": t.template_rows,
        "hidden_messages": t.hidden_messages,
        "categories": {k: _tally_json(v) for k, v in t.categories.items()},
        "invisible": {k: _tally_json(v) for k, v in t.invisible.items()},
        "markup": {k: _tally_json(v) for k, v in t.markup.items()},
    }


def _injection(d: dict[str, Any]) -> InjectionTallies:
    t = InjectionTallies(int(d["limit"]))
    t.refused, t.template_rows = int(d["refused"]), int(d["template_rows"])
    t.hidden_messages = [str(x) for x in d["hidden_messages"]]
    t.categories = {k: _tally(v) for k, v in d["categories"].items()}
    t.invisible = {k: _tally(v) for k, v in d["invisible"].items()}
    t.markup = {k: _tally(v) for k, v in d["markup"].items()}
    return t


def secrets_json(t: SecretTallies) -> dict[str, Any]:
    return {
        "limit": t.limit,
        "secrets": {k: _tally_json(v) for k, v in t.secrets.items()},
        "personal": {k: _tally_json(v) for k, v in t.personal.items()},
    }


def _secrets(d: dict[str, Any]) -> SecretTallies:
    t = SecretTallies(int(d["limit"]))
    t.secrets = {k: _tally(v) for k, v in d["secrets"].items()}
    t.personal = {k: _tally(v) for k, v in d["personal"].items()}
    return t


# -- one shard's state ------------------------------------------------------------------------------


@dataclass
class DatasetState:
    """One dataset's part in one shard."""

    name: str
    files: list[FileInfo]
    spans: dict[str, Span]
    header: dict[str, Any]  # tallies, malformed rows, profile, tables (JSON)
    recorded: dict[str, Any] | None = None  # the recorded rows (NumPy arrays), when in memory
    source: tuple[Path, int] | None = None  # else: the state file and the dataset's index in it

    def arrays(self) -> dict[str, Any]:
        """The recorded rows; read from the state file when needed (one shard's part at a time)."""
        if self.recorded is not None:
            return self.recorded
        import numpy as np

        assert self.source is not None
        path, k = self.source
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[f"d{k}.{name}"] for name in ARRAYS}


@dataclass
class ShardState:
    shard: tuple[int, int]
    config: str  # config_digest of the settings the shard ran with
    datasets: list[DatasetState] = field(default_factory=list)


def write_state(path: Path, state: ShardState) -> None:
    import numpy as np

    header = {
        "format": FORMAT,
        "shard": list(state.shard),
        "config": state.config,
        "datasets": [
            {
                "name": d.name,
                "files": [[f.rel, f.fmt, f.size, f.sha256] for f in d.files],
                "spans": {k: list(v) for k, v in d.spans.items()},
                **d.header,
            }
            for d in state.datasets
        ],
    }
    arrays = {f"d{k}.{name}": a for k, d in enumerate(state.datasets) for name, a in d.arrays().items()}
    arrays["header"] = np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    from gate.safewrite import write_file

    write_file(path, buf.getvalue(), what="the shard state")


ARRAYS = {
    "file": "int32",
    "n": "int64",
    "offset": "int64",
    "label": "int32",
    "pattern": "int32",
    "sig": "uint8",
    "has_sig": "bool",
    "ntok": "int32",
    "tok": "int32",
}


def read_state(path: Path) -> ShardState:
    """A shard's state, checked for shape; any problem is one line naming the file and the field."""
    import numpy as np

    def bad(where: str, why: str) -> InputError:
        return InputError(f"{path}: not a training-data shard state: {where}: {why}")

    try:
        size = path.stat().st_size
        if size > STATE_MAX_BYTES:
            raise bad("(file)", f"{size} bytes, over the {STATE_MAX_BYTES}-byte limit")
        npz = np.load(path, allow_pickle=False)
        files = set(npz.files)
        header = json.loads(bytes(npz["header"]).decode("utf-8"))
    except InputError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, RecursionError) as exc:
        raise bad("(file)", str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise bad("format", f"expected {FORMAT}")
    try:
        i, n = (int(x) for x in header["shard"])
        state = ShardState((i, n), str(header["config"]))
        for k, d in enumerate(header["datasets"]):
            infos = [FileInfo(str(r), str(f), int(s), str(h)) for r, f, s, h in d["files"]]
            spans: dict[str, Span] = {
                str(r): (int(a), None if b is None else int(b)) for r, (a, b) in d["spans"].items()
            }
            arrays = {}
            for name, dtype in ARRAYS.items():
                key = f"d{k}.{name}"
                if key not in files:
                    raise bad(f"datasets[{k}].{name}", "missing")
                a = npz[key]
                if a.dtype != np.dtype(dtype):
                    raise bad(f"datasets[{k}].{name}", f"dtype {a.dtype}, expected {dtype}")
                arrays[name] = a
            rows = len(arrays["n"])
            if any(len(arrays[x]) != rows for x in ("file", "offset", "label", "pattern", "has_sig", "sig")):
                raise bad(f"datasets[{k}]", "arrays of different lengths")
            if arrays["sig"].ndim != 2 or arrays["sig"].shape[1] != SIG_BYTES:
                raise bad(f"datasets[{k}].sig", "wrong shape")
            if len(arrays["ntok"]) != rows or int(arrays["ntok"].sum()) != len(arrays["tok"]):
                raise bad(f"datasets[{k}].ntok", "does not add up to the tokens")
            tables = {t: [str(x) for x in d[t]] for t in ("words", "labels", "patterns")}
            for name, table in (
                ("file", infos),
                ("label", tables["labels"]),
                ("pattern", tables["patterns"]),
            ):
                a = arrays[name]
                if rows and (int(a.min()) < -1 or int(a.max()) >= len(table)):
                    raise bad(f"datasets[{k}].{name}", "index out of range")
            if len(arrays["tok"]) and (
                int(arrays["tok"].min()) < 0 or int(arrays["tok"].max()) >= len(tables["words"])
            ):
                raise bad(f"datasets[{k}].tok", "index out of range")
            if rows and (int(arrays["ntok"].min()) < 0 or int(arrays["n"].min()) < 1):
                raise bad(f"datasets[{k}]", "negative counts or row numbers")
            del arrays  # read again, one part at a time, when the merge replays the rows
            state.datasets.append(DatasetState(str(d["name"]), infos, spans, d, source=(path, k)))
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad("header", f"{type(exc).__name__}: {str(exc)[:120]}") from None
    return state


# -- the merge ------------------------------------------------------------------------------------


def check_complete(states: list[tuple[Path, ShardState]], config: str) -> None:
    """Every shard 1..N once, of the same split, files and settings."""
    if not states:
        raise InputError("merge: no training-data shard states")
    first_path, first = states[0]
    n = first.shard[1]
    seen: dict[int, Path] = {}
    for p, s in states:
        if s.shard[1] != n:
            raise InputError(
                f"{p}: shard {s.shard[0]}/{s.shard[1]} is of another split than {first_path} (N = {n})"
            )
        if s.shard[0] in seen:
            raise InputError(f"{p}: shard {s.shard[0]}/{n} given twice (also {seen[s.shard[0]]})")
        seen[s.shard[0]] = p
        if s.config != config:
            raise InputError(f"{p}: the shard ran with other training-data settings than this policy's")
        if [(d.name, d.files) for d in s.datasets] != [(d.name, d.files) for d in first.datasets]:
            raise InputError(f"{p}: datasets or files differ from {first_path}: shards of different releases")
    missing = sorted(set(range(1, n + 1)) - set(seen))
    if missing:
        which = ", ".join(f"{i}/{n}" for i in missing)
        raise InputError(f"merge: training-data shard(s) {which} missing: every shard is needed")
    names = [d.name for d in first.datasets]
    for p, s in states:
        for d in s.datasets:
            want = split([x.files for x in first.datasets], s.shard[0], n)[names.index(d.name)]
            if d.spans != want:
                raise InputError(
                    f"{p}: dataset '{d.name}': the spans are not those of shard {s.shard[0]}/{n}"
                )


@dataclass
class Merged:
    """One dataset's shards joined: the order-independent results, and the recorded rows in order."""

    rows: int = 0
    labelled: bool = False
    generative: bool = False
    bad: dict[str, BadRows] = field(default_factory=dict)
    unreadable: list[tuple[str, str, int | None]] = field(default_factory=list)
    injection: InjectionTallies | None = None
    secrets: SecretTallies | None = None
    labels: Counter[str] = field(default_factory=Counter)
    lengths: list[int] = field(default_factory=list)
    parts: list[DatasetState] = field(default_factory=list)  # in shard order


def join(parts: list[DatasetState]) -> Merged:
    m = Merged(parts=parts)
    bad: dict[str, BadRows] = {}
    for d in parts:
        h = d.header
        m.rows += int(h["rows"])
        m.labelled |= bool(h["labelled"])
        m.generative |= bool(h["generative"])
        for rel, b in h["bad"].items():
            t = bad.setdefault(str(rel), BadRows(int(b["limit"])))
            t.count += int(b["count"])
            t.examples = (t.examples + [(int(x), str(y)) for x, y in b["examples"]])[: t.limit]
        for rel, reason, row in h["unreadable"]:
            if all(u[0] != rel for u in m.unreadable):
                m.unreadable.append((str(rel), str(reason), None if row is None else int(row)))
        if h.get("injection") is not None:
            inj = _injection(h["injection"])
            if m.injection is None:
                m.injection = inj
            else:
                m.injection.refused += inj.refused
                m.injection.template_rows += inj.template_rows
                m.injection.hidden_messages = (m.injection.hidden_messages + inj.hidden_messages)[
                    : m.injection.limit
                ]
                _join_tables(m.injection.categories, inj.categories)
                _join_tables(m.injection.invisible, inj.invisible)
                _join_tables(m.injection.markup, inj.markup)
        if h.get("secrets") is not None:
            sec = _secrets(h["secrets"])
            if m.secrets is None:
                m.secrets = sec
            else:
                _join_tables(m.secrets.secrets, sec.secrets)
                _join_tables(m.secrets.personal, sec.personal)
        m.labels.update({str(k): int(v) for k, v in h["label_counts"].items()})
        lengths = [int(x) for x in h["lengths"]]
        m.lengths = [a + b for a, b in zip(m.lengths, lengths, strict=True)] if m.lengths else lengths
    order = {f.rel: k for k, f in enumerate(parts[0].files)} if parts else {}
    m.bad = {rel: bad[rel] for rel in sorted(bad, key=lambda r: order.get(r, len(order)))}
    return m


@dataclass
class Replayed:
    """One recorded row, as the order-dependent indicators read it."""

    file: str
    n: int
    offset: int | None
    label: str | None
    pattern: str | None
    sig: tuple[bytes, tuple[bytes, ...]] | None
    words: list[str]


def replay(parts: list[DatasetState], chunk: int = 8192) -> Iterator[Replayed]:
    """Every recorded row of a dataset, in reading order (shard order, then the shard's order);
    arrays become Python objects a chunk at a time."""
    import numpy as np

    from gate.datacheck.vocab import _band_keys

    for d in parts:
        a = d.arrays()
        h = d.header
        words, labels, patterns = h["words"], h["labels"], h["patterns"]
        files = [f.rel for f in d.files]
        rows = len(a["n"])
        ends = np.cumsum(a["ntok"], dtype=np.int64)
        for c0 in range(0, rows, chunk):
            c1 = min(rows, c0 + chunk)
            t0 = int(ends[c0 - 1]) if c0 else 0
            toks = [words[t] for t in a["tok"][t0 : int(ends[c1 - 1])].tolist()] if c1 > c0 else []
            ntok = a["ntok"][c0:c1].tolist()
            sig = a["sig"][c0:c1]
            fi, ns, offs = a["file"][c0:c1].tolist(), a["n"][c0:c1].tolist(), a["offset"][c0:c1].tolist()
            labs, pats, has = (
                a["label"][c0:c1].tolist(),
                a["pattern"][c0:c1].tolist(),
                a["has_sig"][c0:c1].tolist(),
            )
            pos = 0
            for r in range(c1 - c0):
                k = ntok[r]
                values = sig[r].tobytes() if has[r] else None
                yield Replayed(
                    files[fi[r]],
                    ns[r],
                    None if offs[r] < 0 else offs[r],
                    None if labs[r] < 0 else labels[labs[r]],
                    None if pats[r] < 0 else patterns[pats[r]],
                    (values, _band_keys(values)) if values is not None else None,
                    toks[pos : pos + k],
                )
                pos += k
        del a


def batches_of(parts: list[DatasetState], size: int = BATCH) -> Iterator[list[Replayed]]:
    """The recorded rows in the reader's batches: up to `size` rows of one file."""
    out: list[Replayed] = []
    for r in replay(parts):
        if out and (r.file != out[0].file or len(out) >= size):
            yield out
            out = []
        out.append(r)
    if out:
        yield out


def words_of(batch: list[Replayed]) -> list[str]:
    """`tokenize`'s flat output for the batch: each row's tokens, the sentinel between rows."""
    out: list[str] = []
    for k, r in enumerate(batch):
        if k:
            out.append(SENTINEL)
        out += r.words
    return out


class Fetcher:
    """Reads single rows of the release's data files again (by byte offset), after checking that
    each file still has the digest the shards recorded."""

    def __init__(self, paths: dict[str, tuple[Path, str, str]], cfg: TrainingDataConfig) -> None:
        self.paths = paths  # release path -> (path, format, sha256)
        self.cfg = cfg
        self.verified: set[str] = set()

    def _verify(self, rel: str) -> Path:
        path, _, want = self.paths[rel]
        if rel not in self.verified:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            if h.hexdigest() != want:
                raise InputError(f"{rel}: the file changed since the shards read it (sha256 differs)")
            self.verified.add(rel)
        return path

    def prompt(self, rel: str, n: int, offset: int | None) -> str:
        path = self._verify(rel)
        row = read_row(
            path, self.paths[rel][1], n, offset, self.cfg.fields, max_row_bytes=self.cfg.max_row_bytes
        )
        if row is None:
            raise InputError(f"{rel}: row {n} cannot be read again at byte {offset}")
        return row.prompt

    def prompts(
        self, wanted: set[tuple[str, int]], offsets: Callable[[str, int], int | None]
    ) -> dict[tuple[str, int], str]:
        return {(f, n): self.prompt(f, n, offsets(f, n)) for f, n in wanted}
