"""The optional extras: which Python modules each one provides, and how to install it.

The core install is small; signing, the dependency audit and BOM, garak, some model formats and
Parquet datasets come with extras (pyproject.toml's `optional-dependencies`). Every lazy import of
an extra's module goes through `needs()`, so a missing module ends in one line naming the extra
and an install that works, never in an "internal error". The table below and pyproject.toml are
kept in step by a test.

No distribution named model-gate is published on a package index yet, so a hint never says
`pip install model-gate[...]` alone: that would install whatever someone registered under the
name. It names the checkout and the Git URL at this version's tag instead.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

from gate import __version__
from gate.errors import ExitCode, ToolMissingError

REPOSITORY = "https://github.com/model-gate/model-gate"


@dataclass(frozen=True)
class Extra:
    name: str
    purpose: str
    modules: tuple[str, ...]  # top-level import names the gate imports from this extra
    action: str  # how the GitHub Action gets it


EXTRAS: dict[str, Extra] = {
    e.name: e
    for e in (
        Extra(
            "signing",
            "signature and provenance verification, signed waivers and attestations",
            (
                "sigstore",
                "sigstore_models",
                "securesystemslib",
                "model_signing",
                "cryptography",
                "OpenSSL",
                "blake3",
            ),
            "always installed",
        ),
        Extra(
            "sbom",
            "the dependency audit, CVSS scores and the CycloneDX ML-BOM",
            ("pip_audit", "cyclonedx", "packaging", "cvss", "jsonschema"),
            "always installed",
        ),
        Extra(
            "redteam",
            "the adversarial suite (garak)",
            ("garak",),
            "set the `redteam` input to fast or broad",
        ),
        Extra(
            "formats",
            "ONNX and Keras HDF5 model files",
            ("onnx", "google", "h5py"),
            "always installed",
        ),
        Extra("data", "Parquet training datasets", ("pyarrow",), "always installed"),
        Extra(
            "evidence",
            "OSCAL assessment results in compliance evidence packs (compliance-trestle)",
            ("trestle",),
            "not installed (run `model-gate evidence` where the extra is installed)",
        ),
    )
}


def install_hint(extra: str) -> str:
    """'install the `sbom` extra: ...' with installs that work without a published package."""
    tag = f"v{__version__}"
    action = EXTRAS[extra].action
    return (
        f"install the `{extra}` extra: pip install '.[{extra}]' from a model-gate checkout, "
        f"or pip install 'model-gate[{extra}] @ git+{REPOSITORY}@{tag}'; in the GitHub Action: {action}"
    )


class MissingExtraError(ToolMissingError):
    """A module of an optional extra is not installed.

    Exit 2 when it ends a command (nothing could be judged); inside a check it is a check error
    like any other, so a required check that needs it fails closed.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, extra: str, module: str, needed_for: str, broken: str | None = None) -> None:
        problem = f"cannot be imported ({broken[:200]})" if broken else "which is not installed"
        super().__init__(
            f"{needed_for} needs the Python module '{module}', {problem}",
            hint=install_hint(extra),
        )
        self.extra = extra
        self.module = module


def extra_of(module: str) -> str | None:
    """The extra that provides a module (by its top-level name), if any."""
    top = module.partition(".")[0]
    return next((e.name for e in EXTRAS.values() if top in e.modules), None)


@contextmanager
def needs(extra: str, needed_for: str) -> Iterator[None]:
    """Wrap the lazy imports of an extra's modules: a missing one becomes a MissingExtraError.

    Only imports fail this way; an ImportError of a module the core provides is a broken install
    and says so by naming the module.
    """
    if extra not in EXTRAS:  # pragma: no cover - a typo in the gate's own code
        raise ValueError(f"unknown extra {extra!r}")
    try:
        yield
    except ImportError as exc:
        module = exc.name or str(exc)
        # ModuleNotFoundError: absent. Any other ImportError: present but broken (a version
        # mismatch, a missing native library); reinstalling the extra is the fix for both.
        broken = None if isinstance(exc, ModuleNotFoundError) else str(exc)
        raise MissingExtraError(extra_of(module) or extra, module, needed_for, broken) from None


def installed(module: str) -> bool:
    """Whether a module can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def need_installed(module: str, needed_for: str) -> None:
    """Raise MissingExtraError when an extra's module (run as a tool, not imported) is absent."""
    extra = extra_of(module)
    if extra is None:  # pragma: no cover - a typo in the gate's own code
        raise ValueError(f"{module!r} belongs to no extra")
    if not installed(module):
        raise MissingExtraError(extra, module, needed_for)


def require(module: str, needed_for: str) -> ModuleType:
    """Import an extra's module by name (the extra is looked up from the module)."""
    extra = extra_of(module)
    if extra is None:  # pragma: no cover - a typo in the gate's own code
        raise ValueError(f"{module!r} belongs to no extra")
    with needs(extra, needed_for):
        return importlib.import_module(module)


def extras_table() -> str:
    """The README's table of extras (generated, so it cannot drift from the table above)."""
    lines = ["| Extra | For | Modules | In the GitHub Action |", "|---|---|---|---|"]
    for e in EXTRAS.values():
        mods = ", ".join(f"`{m}`" for m in e.modules)
        lines.append(f"| `{e.name}` | {e.purpose} | {mods} | {e.action} |")
    return "\n".join(lines)
