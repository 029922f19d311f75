"""Jinja chat templates: the syntax tree is analysed, the template is never rendered.

Loaders render chat templates with the model's tokenizer; outside a sandbox
(and in sandboxes with gaps) a template that walks Python object internals
(`__class__`, `__globals__`, `__subclasses__`, ...) or attribute chains into
`os` reaches code execution. Ordinary templates only read message fields and
call string methods, so anything else is reported.
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


def _const_str(node: Any) -> str | None:
    from jinja2 import nodes

    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    if isinstance(node, (nodes.Concat,)):
        parts = [_const_str(n) for n in node.nodes]
        return "".join(p for p in parts if p is not None) if all(p is not None for p in parts) else None
    if isinstance(node, (nodes.Add,)):
        a, b = _const_str(node.left), _const_str(node.right)
        return a + b if a is not None and b is not None else None
    return None


def _bad_name(name: str) -> bool:
    return name.startswith("_") or name in DANGEROUS_ATTRS


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
        from jinja2 import TemplateSyntaxError, nodes
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

    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Getattr) and _bad_name(node.attr):
            hit(node.attr, node, f"attribute '{node.attr}'")
        elif isinstance(node, nodes.Getitem):
            key = _const_str(node.arg)
            if key is not None and _bad_name(key):
                hit(key, node, f"item '{key}'")
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            arg = _const_str(node.args[0]) if node.args else None
            if arg is None:
                hit("attr(...)", node, "the attr filter with a name computed at render time")
            elif _bad_name(arg):
                hit(arg, node, f"attr('{arg}')")
        elif isinstance(node, nodes.Name) and node.name in DANGEROUS_NAMES:
            hit(node.name, node, f"the global '{node.name}'")
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
