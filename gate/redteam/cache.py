"""Per-probe results, keyed so that an unchanged model re-checks without calling its endpoint.

The key covers everything that changes a probe's outcome: the model's digest,
the endpoint configuration (never a secret: only the variable's name), the
probe, the garak version and the run settings (generations, prompt cap, seed,
max tokens, detectors). Entries live outside the release, one JSON file each,
written atomically; an unreadable entry is a miss, never a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from gate.redteam.models import ProbeResult, Settings

ENTRY_MAX_BYTES = 8 * 1024 * 1024
KEY_VERSION = 1


def default_cache_dir(kind: str = "redteam") -> Path:
    """The cache of one kind of result (redteam, robustness), outside any release."""
    env = os.environ.get("MODEL_GATE_CACHE_DIR")
    if env:
        return Path(env).expanduser() / kind
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "model-gate" / kind


def cache_key(
    *,
    model_digest: str,
    endpoint: dict[str, Any],
    probe: str,
    garak_version: str,
    settings: Settings,
    guard: str | None = None,
) -> str:
    """The key of one probe's result; `guard` (the guard's digest) for a run through a guard."""
    material: dict[str, Any] = {
        "v": KEY_VERSION,
        "model": model_digest,
        "endpoint": endpoint,
        "probe": probe,
        "garak": garak_version,
        "settings": settings.model_dump(mode="json"),
    }
    if guard is not None:
        material["guard"] = guard
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def probe_keys(
    probes: Iterable[str],
    *,
    model_digest: str,
    endpoint: dict[str, Any],
    garak_version: str,
    settings: Settings,
    guard: str | None = None,
) -> dict[str, str]:
    """Every probe's key for one run: bare, or through the guard whose digest is `guard`."""
    return {
        p: cache_key(
            model_digest=model_digest,
            endpoint=endpoint,
            probe=p,
            garak_version=garak_version,
            settings=settings,
            guard=guard,
        )
        for p in probes
    }


R = TypeVar("R", bound=BaseModel)


class ResultCache(Generic[R]):
    """Results of one model type (with a `cached` field), one JSON file per key."""

    def __init__(self, root: Path | None, model: type[R] = ProbeResult) -> None:  # type: ignore[assignment]
        self.root = root  # None: caching off
        self.model = model

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / "results" / key[:2] / f"{key}.json"

    def get(self, key: str) -> R | None:
        if self.root is None:
            return None
        path = self._path(key)
        try:
            if path.stat().st_size > ENTRY_MAX_BYTES:
                return None
            data = json.loads(path.read_bytes())
            return self.model.model_validate(data).model_copy(update={"cached": True})
        except (OSError, ValueError, RecursionError, ValidationError):
            return None

    def put(self, key: str, result: R) -> None:
        if self.root is None:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(result.model_copy(update={"cached": False}).model_dump_json())
            os.replace(tmp, path)
        except OSError:
            # A cache that cannot be written costs speed, not correctness.
            return
