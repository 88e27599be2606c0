"""The layer rule (README, "Architecture"), read from the source: who may import whom, no cycles, no hiding.

core ← feeds, channels, sandbox ← syndicator ← main.py. The sandbox look-alikes import only core and
third-party code; of the hub, only the CLI's ``demo`` and ``sandbox`` commands start them. A function-local
import of our own code or a ``TYPE_CHECKING`` import is how a cycle hides, so neither is allowed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
PACKAGES = ("core", "feeds", "channels", "sandbox", "syndicator")
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "feeds": {"core", "feeds"},
    "channels": {"core", "channels"},
    "sandbox": {"core", "sandbox"},
    "syndicator": {"core", "feeds", "channels", "syndicator"},
    "main": set(PACKAGES),
}
# The CLI commands that start the look-alikes (`main.py demo`, `main.py sandbox`).
SANDBOX_STARTERS = {"syndicator.demo", "syndicator.commands"}


@dataclass(frozen=True, slots=True)
class Import:
    module: str            # the importing module
    target: str            # the imported module (or package.name for ``from package import name``)
    line: int
    local: bool            # inside a function
    type_checking: bool    # under ``if TYPE_CHECKING:``


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> Iterator[tuple[str, Path]]:
    yield "main", ROOT / "main.py"
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield _module_name(path), path


def _known(modules: set[str], name: str) -> str:
    """``package.name`` is the submodule when one exists, else the package itself."""
    return name if name in modules else name.rsplit(".", 1)[0]


def _walk(node: ast.AST, module: str, is_package: bool, modules: set[str], local: bool, type_checking: bool,
          found: list[Import]) -> None:
    for child in ast.iter_child_nodes(node):
        inner_local = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        inner_tc = type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
        targets: list[str] = []
        if isinstance(child, ast.Import):
            targets = [alias.name for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                parts = module.split(".")
                anchor = parts[: len(parts) - child.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [_known(modules, f"{base}.{alias.name}") for alias in child.names]
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                found.append(Import(module, target, child.lineno, local, type_checking))
        _walk(child, module, is_package, modules, inner_local, inner_tc, found)


def imports() -> list[Import]:
    found: list[Import] = []
    sources = dict(_sources())
    for module, path in sources.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        _walk(tree, module, path.name == "__init__.py", set(sources), False, False, found)
    return found


def test_each_layer_imports_only_the_layers_below() -> None:
    wrong = []
    for imp in imports():
        layer, target_layer = imp.module.split(".")[0], imp.target.split(".")[0]
        if target_layer == "sandbox" and imp.module in SANDBOX_STARTERS:
            continue
        if target_layer not in ALLOWED[layer]:
            wrong.append(f"{imp.module}:{imp.line} imports {imp.target}")
    assert not wrong, "imports against the layer rule:\n" + "\n".join(wrong)


def test_no_import_hides_in_a_function_or_behind_type_checking() -> None:
    hidden = [f"{i.module}:{i.line} {'TYPE_CHECKING' if i.type_checking else 'in a function'}: {i.target}"
              for i in imports() if i.local or i.type_checking]
    assert not hidden, "imports of our own code must be at module level:\n" + "\n".join(hidden)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_module_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for imp in imports():
        if imp.target != imp.module and not imp.module.startswith(imp.target + "."):
            graph.setdefault(imp.module, set()).add(imp.target)
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


def test_the_rule_checker_sees_what_it_must() -> None:
    """The walk finds real imports: a checker that read nothing would pass every rule."""
    found = imports()
    assert any(i.module == "syndicator.app" and i.target.startswith("syndicator.dispatch") for i in found)
    assert any(i.module.startswith("channels.") and i.target == "core.models" for i in found)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
