"""Judging a walk's imports and calls against the allowlist, and reporting them as issues."""

from __future__ import annotations

import _compat_pickle
import functools
import importlib.util
from typing import Any

from gate.scanner.interface import Context, Issue, IssueKind
from gate.scanner.pickle_walker.joblib_arrays import JOBLIB_WRAPPER
from gate.scanner.pickle_walker.values import (
    Call,
    Const,
    Global,
    Malformed,
    Persistent,
    WalkOutcome,
    describe,
)

MAX_ISSUES_PER_STREAM = 200

# The unpickler renames Python 2 names in protocol < 3 pickles (`fix_imports`, on by default) with
# the standard library's own tables, so `__builtin__.eval` is judged as `builtins.eval`.
COMPAT_NAMES: dict[tuple[str, str], tuple[str, str]] = _compat_pickle.NAME_MAPPING
COMPAT_MODULES: dict[str, str] = _compat_pickle.IMPORT_MAPPING
# Aliases that reach the same code under another name; used to explain, never to allow.
MODULE_ALIASES = {"posix": "os", "nt": "os", "_pickle": "pickle", "_operator": "operator", "_io": "io"}


class Judge:
    """The part of a walk that decides what is an issue: each import by the name the unpickler
    looks up, each call by its callee, each change by its target."""

    def __init__(
        self,
        ctx: Context,
        member: str,
        base: int,
        extra_prefixes: tuple[str, ...],
        missing_modules_stop: bool,
    ) -> None:
        # Reading joblib array bytes as a plain unpickler does: where it names a module that is not
        # installed, the unpickler stops with ModuleNotFoundError (see streams._walk_plain).
        self.missing_modules_stop = missing_modules_stop
        self.saw_wrapper = False
        self.extra_prefixes = extra_prefixes
        self.ctx = ctx
        self.member = member
        self.base = base  # offset of this stream inside the member, for reporting
        self.allow = ctx.settings.allowlist
        self.refs = ctx.settings.reference_only
        self.out = WalkOutcome()
        self.issues = 0
        self.reported: set[tuple[str, str]] = set()

    # ---- reporting -----------------------------------------------------------------
    def issue(
        self,
        kind: IssueKind,
        msg: str,
        offset: int,
        opcode: str | None,
        name: str | None = None,
        **evidence: Any,
    ) -> None:
        key = (kind.value, name or msg)
        if key in self.reported and kind is not IssueKind.MALFORMED:
            return  # one issue per distinct name per stream; the first offset is reported
        self.reported.add(key)
        self.issues += 1
        if self.issues > MAX_ISSUES_PER_STREAM:
            return
        self.ctx.add(
            Issue(
                kind,
                msg,
                member=self.member,
                offset=self.base + offset,
                opcode=opcode,
                name=name,
                evidence=evidence,
            )
        )

    # ---- imports and calls ----------------------------------------------------------------
    def resolve(self, module: str, name: str, offset: int, opcode: str) -> Global:
        self.out.raw_imports.append((module, name))
        if (self.out.protocol or 0) < 3:  # the unpickler's find_class renames only then
            if (module, name) in COMPAT_NAMES:
                module, name = COMPAT_NAMES[module, name]
            elif module in COMPAT_MODULES:
                module = COMPAT_MODULES[module]
        if self.missing_modules_stop and not _installed(module):
            raise Malformed(f"module '{module}' is not installed: the unpickler stops here")
        g = Global(module, name, offset)
        self.out.imports.append(g.full)
        if g.full == JOBLIB_WRAPPER:
            self.saw_wrapper = True
        if (
            g.full not in self.allow
            and g.full not in self.refs
            and not (self.extra_prefixes and g.full.startswith(self.extra_prefixes))
        ):
            alias = MODULE_ALIASES.get(module)
            via = ""
            if alias:
                via = f" ('{module}' is '{alias}' under another name)"
            elif "." in name:
                via = f" (attribute chain '{name}' through module '{module}')"
            self.issue(
                IssueKind.UNSAFE_IMPORT,
                f"imports '{g.full}', which is not on the allowlist{via}",
                offset,
                opcode,
                g.full,
                module=module,
                attribute=name,
            )
        return g

    def call(self, func: Any, args: Any, offset: int, opcode: str) -> Call:
        self.out.calls += 1
        if isinstance(func, Global) and func.full in self.refs:
            self.issue(
                IssueKind.UNSAFE_IMPORT,
                f"calls '{func.full}', which the allowlist admits only as a value: no model needs to "
                "call it while loading",
                offset,
                opcode,
                func.full,
                called=True,
            )
        elif not isinstance(func, Global):
            self.issue(
                IssueKind.INDIRECT_CALL,
                f"calls an object that is not an imported name ({describe(func)})",
                offset,
                opcode,
                describe(func),
            )
        return Call(func, args, offset, opcode=opcode)

    def mutate(self, target: Any, offset: int, opcode: str) -> None:
        self.out.calls += 1
        if isinstance(target, Global):
            self.issue(
                IssueKind.MUTATES_IMPORT,
                f"{opcode} changes the imported object '{target.full}' itself, not an instance",
                offset,
                opcode,
                target.full,
            )
        elif isinstance(target, (Const, Persistent)) and opcode != "BUILD":
            self.issue(
                IssueKind.INDIRECT_CALL,
                f"{opcode} on a {describe(target)}: calls a method of a non-container",
                offset,
                opcode,
                describe(target),
            )


@functools.lru_cache(maxsize=4096)
def _installed(module: str) -> bool:
    """Whether the top-level package of `module` can be found by the import system here; finding
    a top-level spec runs no module code."""
    top = module.split(".", 1)[0]
    if not top.isidentifier():
        return False
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


# What an unpickler has done by the time it reaches these: imported a module, called or changed
# an object. Malformed or trailing bytes alone are what every non-pickle file looks like.
EXECUTED = frozenset(
    {
        IssueKind.UNSAFE_IMPORT,
        IssueKind.UNRESOLVED_IMPORT,
        IssueKind.MUTATES_IMPORT,
        IssueKind.INDIRECT_CALL,
    }
)
# Callees whose call can only raise (TypeError): the walker's descriptions of constants and
# containers, and joblib's array wrapper instances (the class defines no __call__).
INERT_CALLEES = (
    "constant ",
    "list",
    "tuple",
    "dict",
    "set",
    "frozenset",
    "unknown value",
)
WRAPPER_INSTANCE = f"result of calling {JOBLIB_WRAPPER}"


def acted(issue: Issue) -> bool:
    """Whether the loader would have acted: imported a name the import system can look up, called
    something callable, or changed an imported object. Used where a walk reads bytes that may be
    no pickle at all (a file of another format, joblib array bytes read as opcodes)."""
    if issue.kind not in EXECUTED:
        return False
    name = issue.name or ""
    if issue.kind is IssueKind.INDIRECT_CALL:
        return not (name.startswith(INERT_CALLEES) or name == WRAPPER_INSTANCE)
    if issue.kind is IssueKind.UNRESOLVED_IMPORT:
        # An extension code resolves only where the loading process registered it with copyreg.
        return not name.startswith("extension:")
    if issue.kind is not IssueKind.UNSAFE_IMPORT:
        return True
    module = str(issue.evidence.get("module", ""))
    # A module name that is not a dotted identifier (a line of prose, binary noise) names no
    # importable module; a text file is not reported for it.
    return all(part.isidentifier() for part in module.split("."))
