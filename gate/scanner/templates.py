"""Jinja chat templates: the syntax tree is judged by allowlist, the template is never rendered.

Loaders render chat templates with the model's tokenizer; outside a sandbox
(and in sandboxes with gaps) a template that walks Python object internals
(`__class__`, `__globals__`, `__subclasses__`, ...) reaches code execution.
Looking for dangerous names is not enough: the names can be built while the
template renders (`'_' * 2 ~ 'init'`, `join`, `replace`, the caller's own
variables). So a template may only use constant keys that do not start with
`_` (or numbers computed from numbers, as in `messages[loop.index0 - 1]`), and
only the filters and tests that transformers' sandbox offers; everything else
is reported.
"""

from __future__ import annotations

from typing import Any

from gate.scanner.interface import Context, Issue, IssueKind

DANGEROUS_ATTRS = frozenset(
    {
        "mro",
        "subclasses",
        "globals",
        "builtins",
        "func_globals",
        "func_code",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "ag_frame",
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "tb_frame",
        "tb_next",
        "co_code",
        "im_func",
        "os",
        "sys",
        "subprocess",
        "system",
        "popen",
        "spawn",
        "spawnv",
        "execv",
        "exec",
        "eval",
        "compile",
        "import_module",
        "load_module",
        "modules",
        "getattr",
        "setattr",
        "delattr",
        "environ",
        "posix",
        "nt",
        "check_output",
        "call",
        "run",
        "Popen",
        "fdopen",
        "open",
        "read_text",
        "write_text",
        "unlink",
        "rmtree",
    }
)
DANGEROUS_NAMES = frozenset(
    {
        "self",
        "lipsum",
        "cycler",
        "joiner",
        "config",
        "request",
        "url_for",
        "get_flashed_messages",
        "__builtins__",
        "__import__",
    }
)


# What transformers' renderer offers a template (ImmutableSandboxedEnvironment with jinja2's defaults,
# plus `tojson`, `raise_exception` and `strftime_now`): the only filters and tests a template may use.
EXTRA_FILTERS = frozenset({"tojson"})
# Filters that look up an attribute or item named by an argument (dotted paths allowed): the
# position of that argument after the filtered value, and whether it may be given as `attribute=`.
ATTRIBUTE_ARG_FILTERS: dict[str, tuple[int | None, bool]] = {
    "map": (None, True),  # map's positional arguments name a filter instead
    "selectattr": (0, False),
    "rejectattr": (0, False),
    "groupby": (0, True),
    "sort": (2, True),
    "sum": (0, True),
    "unique": (1, True),
    "min": (1, True),
    "max": (1, True),
}
TEST_ARG_FILTERS = {"select": 0, "reject": 0, "selectattr": 1, "rejectattr": 1}
LOOP_NUMBERS = frozenset({"index", "index0", "revindex", "revindex0", "length", "depth", "depth0"})
NUMBER_FILTERS = frozenset({"length", "count", "abs", "round"})
DEFAULTED_NUMBER_FILTERS = frozenset({"int", "float"})  # numbers unless a non-number default is given
ARITHMETIC = ("Add", "Sub", "Mul", "Div", "FloorDiv", "Mod", "Pow")


def _allowed_filters() -> frozenset[str]:
    from jinja2.filters import FILTERS

    return frozenset(FILTERS) | EXTRA_FILTERS


def _allowed_tests() -> frozenset[str]:
    from jinja2.tests import TESTS

    return frozenset(TESTS)


def _const_str(node: Any) -> str | None:
    from jinja2 import nodes

    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    return None


def _bad_name(name: str) -> bool:
    return name.startswith("_") or name in DANGEROUS_ATTRS


def _bad_path(name: str) -> bool:
    """An attribute path as the attribute filters take it ('a.b.0'): bad if any part is."""
    return any(_bad_name(part) for part in name.split("."))


class _Numbers:
    """Which names (and namespace attributes) can only ever hold numbers, so that keys built from them
    (`messages[loop.index0 - 1]`) cannot name an attribute. Every assignment in the template is
    collected; a name is numeric when every value assigned to it is (greatest fixed point, so a
    counter `{% set i = i + 1 %}` stays numeric). Names the template does not assign come from the
    caller (bos_token, messages, ...) and are never numeric: their strings are not the template's."""

    def __init__(self, tree: Any) -> None:
        from jinja2 import nodes

        values: dict[str, list[Any]] = {}
        unknown: set[str] = set()

        def targets(t: Any, value: Any) -> None:
            if isinstance(t, nodes.Name):
                values.setdefault(t.name, []).append(value)
                if value is None:
                    unknown.add(t.name)
                elif _is_call_to(value, "namespace"):
                    if value.args or value.dyn_args or value.dyn_kwargs:
                        unknown.add(f"{t.name}.*")
                    for kw in value.kwargs:
                        values.setdefault(f"{t.name}.{kw.key}", []).append(kw.value)
            elif isinstance(t, nodes.NSRef):
                values.setdefault(f"{t.name}.{t.attr}", []).append(value)
            elif isinstance(t, nodes.Tuple):
                for item in t.items:
                    targets(item, None)

        self.shadowed = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        for node in tree.find_all(nodes.Node):
            if isinstance(node, nodes.Assign):
                targets(node.target, node.node)
            elif isinstance(node, nodes.For):
                ranged = _is_call_to(node.iter, "range") and "range" not in self.shadowed
                targets(node.target, _NUMBER if ranged and isinstance(node.target, nodes.Name) else None)
            elif isinstance(node, (nodes.AssignBlock, nodes.With, nodes.Macro, nodes.CallBlock)):
                for n in node.find_all(nodes.Name):
                    if n.ctx in ("store", "param"):
                        targets(n, None)
        self.numeric = {k for k in values if k not in unknown}
        changed = True
        while changed:
            changed = False
            for k in list(self.numeric):
                if not all(self.is_number(v) for v in values[k]):
                    self.numeric.discard(k)
                    changed = True

    def is_number(self, node: Any) -> bool:
        from jinja2 import nodes

        if node is _NUMBER:
            return True
        if isinstance(node, nodes.Const):
            return isinstance(node.value, (int, float))
        if isinstance(node, (nodes.Neg, nodes.Pos)):
            return self.is_number(node.node)
        if type(node).__name__ in ARITHMETIC:
            return self.is_number(node.left) and self.is_number(node.right)
        if isinstance(node, nodes.CondExpr):
            return self.is_number(node.expr1) and (node.expr2 is None or self.is_number(node.expr2))
        if isinstance(node, nodes.Filter):
            if node.name in NUMBER_FILTERS:
                return True
            if node.name in DEFAULTED_NUMBER_FILTERS:
                return all(self.is_number(a) for a in node.args[:1]) and all(
                    self.is_number(k.value) for k in node.kwargs if k.key == "default"
                )
            return False
        if isinstance(node, nodes.Name):
            return node.name in self.numeric
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            if node.node.name == "loop" and "loop" not in self.shadowed:
                return node.attr in LOOP_NUMBERS
            if f"{node.node.name}.*" in self.numeric:
                return False
            return f"{node.node.name}.{node.attr}" in self.numeric
        return False


_NUMBER = object()  # the value of a `for` target over range(...)


def _is_call_to(node: Any, name: str) -> bool:
    from jinja2 import nodes

    return isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == name


def _environment() -> Any:
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        """transformers' `{% generation %}` block: parsed as a plain block so its body is analysed."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", Generation])


def check_template(source: str, ctx: Context, where: str, what: str) -> None:
    """Report every construct in `source` that reaches Python internals. Never renders it."""
    if len(source.encode("utf-8", "replace")) > ctx.limits.max_template_bytes:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                f"{what}: template is over the size limit",
                member=where,
                evidence={"limit": "max_template_bytes"},
            )
        )
        return
    try:
        from jinja2 import TemplateSyntaxError
    except ImportError as exc:
        from gate.scanner.interface import AnalysisError

        raise AnalysisError("chat templates need the 'jinja2' package") from exc
    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        ctx.add(
            Issue(
                IssueKind.MALFORMED,
                f"{what}: template does not parse: {exc.message} (line {exc.lineno})",
                member=where,
            )
        )
        return
    except RecursionError:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                f"{what}: template nests too deeply",
                member=where,
                evidence={"limit": "template_nesting"},
            )
        )
        return
    found: dict[str, tuple[int, str]] = {}

    def hit(name: str, node: Any, why: str) -> None:
        found.setdefault(name, (getattr(node, "lineno", 0), why))

    try:
        _visit(tree, hit)
    except RecursionError:
        hit("nesting", tree, "expressions nested too deeply to analyse")
    for name, (line, why) in sorted(found.items(), key=lambda kv: kv[1][0]):
        ctx.add(
            Issue(
                IssueKind.TEMPLATE,
                f"{what} uses {why} (line {line})",
                member=where,
                name=name,
                evidence={"construct": why, "line": line, "source": what},
            )
        )


def _visit(tree: Any, hit: Any) -> None:
    """Everything not on the allowlist: keys must be constants without a leading `_` (or numbers the
    template computes from numbers), filters and tests those of the sandbox, no template loading."""
    from jinja2 import nodes

    filters, tests = _allowed_filters(), _allowed_tests()
    numbers = _Numbers(tree)

    def key_ok(node: Any, where: Any, what: str) -> None:
        if isinstance(node, nodes.Const):
            if isinstance(node.value, str) and _bad_name(node.value):
                hit(node.value, where, f"{what} '{node.value}'")
            return
        if isinstance(node, nodes.Slice):
            for part in (node.start, node.stop, node.step):
                if part is not None and not numbers.is_number(part):
                    hit("computed key", where, f"a slice bound computed at render time in {what}")
            return
        if not numbers.is_number(node):
            hit("computed key", where, f"{what} computed at render time (can name any attribute)")

    def attr_arg(node: Any, where: Any, fname: str) -> None:
        name = _const_str(node)
        if name is None:
            hit(f"{fname}(...)", where, f"the {fname} filter with an attribute name computed at render time")
        elif _bad_path(name):
            hit(name, where, f"{fname}('{name}')")

    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Getattr) and _bad_name(node.attr):
            hit(node.attr, node, f"attribute '{node.attr}'")
        elif isinstance(node, nodes.Getitem):
            key_ok(node.arg, node, "item")
        elif isinstance(node, (nodes.Filter, nodes.Test)):
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            allowed = filters if kind == "filter" else tests
            if node.name not in allowed:
                hit(node.name, node, f"the {kind} '{node.name}', which the sandbox does not offer")
                continue
            if node.dyn_args is not None or node.dyn_kwargs is not None:
                hit(f"{node.name}(*...)", node, f"the {kind} '{node.name}' with unpacked arguments")
            if kind == "filter":
                _filter_args(node, hit, attr_arg, tests, filters)
        elif isinstance(node, nodes.FilterBlock) and node.filter.name not in filters:
            hit(node.filter.name, node, f"the filter '{node.filter.name}', which the sandbox does not offer")
        elif isinstance(node, nodes.Name) and (node.name.startswith("_") or node.name in DANGEROUS_NAMES):
            hit(node.name, node, f"the name '{node.name}'")
        elif isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            hit(type(node).__name__.lower(), node, "loading another template")
        elif (
            isinstance(node, nodes.Const)
            and isinstance(node.value, str)
            and "__" in node.value
            and ("{" in node.value or "." in node.value or node.value.startswith("__"))
        ):
            hit(node.value[:40], node, f"the string {node.value[:40]!r}, which names Python internals")
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr in ("format", "format_map")
        ):
            hit(node.node.attr, node, f"str.{node.node.attr}, which can read attributes from inside a string")


def _filter_args(node: Any, hit: Any, attr_arg: Any, tests: frozenset[str], filters: frozenset[str]) -> None:
    """Arguments that name attributes, tests or filters must be constants, and safe ones."""
    name = node.name
    if name == "attr":
        if node.args:
            attr_arg(node.args[0], node, "attr")
        else:
            hit("attr(...)", node, "the attr filter with an attribute name computed at render time")
    position, keyword = ATTRIBUTE_ARG_FILTERS.get(name, (None, False))
    if position is not None and len(node.args) > position:
        attr_arg(node.args[position], node, name)
    for kw in node.kwargs:
        if kw.key == "attribute" and keyword:
            attr_arg(kw.value, node, name)
    test_at = TEST_ARG_FILTERS.get(name)
    if test_at is not None and len(node.args) > test_at:
        test = _const_str(node.args[test_at])
        if test is None or test not in tests:
            hit(f"{name}(test)", node, f"the {name} filter with a test that is not a constant sandbox test")
    if name == "map" and node.args:
        inner = _const_str(node.args[0])
        if inner is None or inner not in filters or inner == "attr":
            hit("map(filter)", node, "the map filter applying a computed filter or `attr`")
