"""The import graph of the `gate` package, read from the source (`ast`), lazy imports included.

    python scripts/import_graph.py [ROOT]    # ROOT: a checkout (default: this one)

prints the figures the layering is judged by: modules, import edges, cycles (strongly connected
groups of modules), layers (the longest chain of imports, cycles folded into one node) and the
imports that run back up (each layer rule of tests/test_import_layers.py that an import breaks).
The test reads the same graph, so the figures and the test cannot disagree.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Import:
    importer: str  # module name, e.g. gate.checks.adversarial
    target: str  # the imported module, resolved to the deepest module of the package that exists
    path: str  # file, relative to the checkout
    line: int
    lazy: bool  # inside a function: runs when called, not when the module loads
    type_only: bool  # under `if TYPE_CHECKING:`


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def gate_modules(root: Path) -> dict[str, Path]:
    return {
        module_name(p, root): p for p in sorted((root / "gate").rglob("*.py")) if "__pycache__" not in p.parts
    }


def _resolve(name: str, known: set[str]) -> str:
    """`gate.checks.interface.utc_now` -> `gate.checks.interface`: the deepest module that exists."""
    parts = name.split(".")
    while len(parts) > 1 and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


class _Walker(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, path: str, known: set[str]) -> None:
        self.module, self.is_package, self.path, self.known = module, is_package, path, known
        self.depth = 0  # functions we are inside
        self.type_only = 0  # `if TYPE_CHECKING:` blocks we are inside
        self.found: list[Import] = []

    def _add(self, name: str, line: int) -> None:
        target = _resolve(name, self.known) if name.split(".", maxsplit=1)[0] == "gate" else name
        self.found.append(Import(self.module, target, self.path, line, self.depth > 0, self.type_only > 0))

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        self.type_only += guarded
        for child in node.body:
            self.visit(child)
        self.type_only -= guarded
        for child in node.orelse:
            self.visit(child)
        self.visit(node.test)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        for alias in node.names:
            # `from gate.checks import interface` imports a module; `from gate.x import name` its module.
            self._add(f"{base}.{alias.name}" if base.startswith("gate") else base, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("gate.x") with a literal name is an import too.
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "import_module" and node.args and isinstance(node.args[0], ast.Constant):
            value = node.args[0].value
            if isinstance(value, str):
                self._add(value, node.lineno)
        self.generic_visit(node)


def imports(root: Path = ROOT) -> list[Import]:
    """Every import statement of every module of gate/ (third-party and stdlib ones too)."""
    modules = gate_modules(root)
    known = set(modules)
    out: list[Import] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        walker = _Walker(name, path.name == "__init__.py", str(path.relative_to(root)), known)
        walker.visit(tree)
        out += walker.found
    return out


def graph(found: list[Import]) -> dict[str, set[str]]:
    """gate module -> the gate modules it imports (a module importing itself left out)."""
    g: dict[str, set[str]] = {i.importer: set() for i in found}
    for i in found:
        if within(i.target, "gate") and i.target not in (i.importer, "gate"):
            g.setdefault(i.importer, set()).add(i.target)
            g.setdefault(i.target, set())
    return g


def components(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative): a component of two or more is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(g):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(g[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(sorted(comp))
    return out


def depths(g: dict[str, set[str]]) -> dict[str, int]:
    """Each module's layer: 1 + the deepest module it imports (a cycle is one node)."""
    comps = components(g)
    of = {m: i for i, c in enumerate(comps) for m in c}
    depth: dict[int, int] = {}
    # Tarjan emits components in reverse topological order: dependencies first.
    for i, comp in enumerate(comps):
        below = [depth[of[t]] for m in comp for t in g[m] if of[t] != i]
        depth[i] = 1 + max(below, default=0)
    return {m: depth[of[m]] for m in g}


def layers(g: dict[str, set[str]]) -> int:
    """The longest chain of imports (a module that imports no gate module is layer 1)."""
    return max(depths(g).values(), default=0)


# The layer rules. Areas by module name prefix; a rule forbids an area to import others.
LIBRARIES = (
    "gate.scanner",
    "gate.redteam",
    "gate.datacheck",
    "gate.waivers",
    "gate.signing",
    "gate.compliance",
)
COMMAND_LAYER = ("gate.commands", "gate.cli", "gate.__main__", "gate.action")
HEAVY = ("garak", "torch")
HEAVY_ALLOWED = ("gate.redteam.runner",)


def within(module: str, areas: tuple[str, ...] | str) -> bool:
    areas = (areas,) if isinstance(areas, str) else areas
    return any(module == a or module.startswith(a + ".") for a in areas)


def violation(i: Import) -> str | None:
    """Why this import breaks a layer rule, or None."""
    top = i.target.split(".")[0]
    if within(i.importer, "gate.models"):
        if top == "gate" and not within(i.target, "gate.models"):
            return "models import only models"
        if top not in ("gate", "pydantic", "__future__") and top not in sys.stdlib_module_names:
            return "models import only models, pydantic and the standard library"
    above_checks = ("gate.engine", "gate.reporters", *COMMAND_LAYER)
    if within(i.importer, "gate.checks") and within(i.target, above_checks):
        return "checks never import the engine, reporters or the command layer"
    if within(i.importer, "gate.reporters") and within(i.target, "gate.checks"):
        return "reporters never import checks"
    if within(i.importer, LIBRARIES) and within(i.target, ("gate.engine", "gate.checks", *COMMAND_LAYER)):
        return "libraries never import the engine, checks or the command layer"
    if within(i.target, "gate.commands") and not within(i.importer, COMMAND_LAYER):
        return "only the command layer imports gate.commands"
    if top in HEAVY and not i.lazy and not i.type_only and not within(i.importer, HEAVY_ALLOWED):
        return f"{top} is imported at module level (import it inside the function that needs it)"
    return None


def violations(found: list[Import]) -> list[tuple[Import, str]]:
    """Imports that break a layer rule, one per (importer, imported) pair."""
    seen: dict[tuple[str, str], tuple[Import, str]] = {}
    for i in found:
        why = violation(i)
        if why is not None:
            seen.setdefault((i.importer, i.target), (i, why))
    return list(seen.values())


def figures(root: Path = ROOT) -> dict[str, int]:
    found = imports(root)
    g = graph(found)
    return {
        "modules": len(gate_modules(root)),
        "edges": sum(len(v) for v in g.values()),
        "layers": layers(g),
        "cycles": sum(1 for c in components(g) if len(c) > 1),
        "back_edges": len(violations(found)),
    }


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve() if argv else ROOT
    for key, value in figures(root).items():
        print(f"{key:<11} {value}")
    found = imports(root)
    print("imports that break a layer rule:")
    for i, why in violations(found):
        print(f"  {i.path}:{i.line}: {i.importer} imports {i.target}: {why}")

    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
