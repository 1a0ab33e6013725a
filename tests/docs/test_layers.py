"""The house stands: every module's imports keep to the layer table of docs/architecture.md,
no layer imports one above it, the two halves import nothing of each other, and no module
imports itself through others. The imports are read from the source (ast), every one of
them: at the top, inside functions and under ``TYPE_CHECKING``."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
HEADER = "| layer | modules | may import |"
PACKAGES = ("parkwatch", "agent", "collector", "simulators", "firmware_profiles", "bench",
            "tests")
# Whatever the table says, these never: the halves stand side by side on the shared core.
NEVER = {
    "parkwatch.core": ("agent", "collector", "simulators", "parkwatch.cli", "bench", "tests"),
    "agent": ("collector", "simulators", "parkwatch.cli", "bench", "tests"),
    "collector": ("agent", "simulators", "parkwatch.cli", "bench", "tests"),
}


def layer_table() -> dict[str, tuple[list[str], set[str]]]:
    """The table, in its order (bottom layer first): name -> (module prefixes, may import)."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    rows = {}
    for line in lines[lines.index(HEADER) + 2:]:
        if not line.startswith("|"):
            break
        name, mods, may = (cell.strip() for cell in line.strip().strip("|").split("|"))
        allowed = set() if may == "—" else {m.strip() for m in may.split(",")}
        rows[name] = (re.findall(r"`([\w.]+)`", mods), allowed)
    return rows


def all_modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


MODULES = all_modules()


def _known(target: str) -> str | None:
    """The project module an imported name lives in (the longest known prefix), or None."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


def imports(name: str) -> list[tuple[str, int]]:
    """(module imported, line) for every import of the project's own modules in ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package[:len(package) - node.level + 1]
                base = ".".join(head + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            known = _known(target)
            if known is not None and known != name:
                out.append((known, node.lineno))
    return out


GRAPH = {name: imports(name) for name in MODULES}


def layer_of(module: str, table) -> str | None:
    best, best_len = None, -1
    for layer, (prefixes, _) in table.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{line}"


def test_the_table_names_real_modules_and_permits_nothing_upward():
    table = layer_table()
    assert len(table) >= 6, "the layer table of docs/architecture.md is missing or cut short"
    seen = []
    for layer, (prefixes, allowed) in table.items():
        assert prefixes, f"layer {layer!r} names no modules"
        for prefix in prefixes:
            assert any(m == prefix or m.startswith(prefix + ".") for m in MODULES), \
                f"layer {layer!r} names {prefix!r}, which is no module"
        upward = allowed - set(seen)
        assert not upward, f"layer {layer!r} may import {sorted(upward)}: not below it"
        seen.append(layer)


def test_every_module_has_a_layer():
    table = layer_table()
    assert [m for m in MODULES if layer_of(m, table) is None] == []


def test_no_import_the_table_does_not_allow():
    table = layer_table()
    wrong = []
    for module, targets in GRAPH.items():
        mine = layer_of(module, table)
        for target, line in targets:
            theirs = layer_of(target, table)
            if theirs != mine and theirs not in table[mine][1]:
                wrong.append(f"{_where(module, line)}: {module} ({mine}) imports {target} "
                             f"({theirs})")
    assert wrong == []


def test_the_halves_import_nothing_of_each_other():
    wrong = []
    for module, targets in GRAPH.items():
        for side, never in NEVER.items():
            if module != side and not module.startswith(side + "."):
                continue
            wrong += [f"{_where(module, line)}: {module} imports {target}"
                      for target, line in targets
                      if any(target == n or target.startswith(n + ".") for n in never)]
    assert wrong == []


def _circles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        out.append(sorted(group))
    return out


def test_no_import_circle():
    product = {m: sorted({t for t, _ in targets if not t.startswith("tests")})
               for m, targets in GRAPH.items() if not m.startswith("tests")}
    assert _circles(product) == []


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert _circles({"a": ["b"], "b": []}) == []


def test_no_module_is_over_350_lines():
    """Small, single-minded modules: one past 350 lines has taken on a second job."""
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 350}
    assert long == {}
