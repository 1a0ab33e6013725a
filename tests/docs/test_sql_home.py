"""SQL lives in the database layer (docs/architecture.md, "The database layer").

The db layer is ``collector/db/`` and each part's store modules (``store.py``,
``store_*.py``) and migration modules (``schema.py``, ``core_schema.py``). Anywhere else in
the product — the rest of the collector, the command line, the simulators — a call that
runs SQL (``execute``, ``executemany``, ``executescript``, sqlite-utils' ``query`` or
``db[table]``, ``sqlite3.connect``) or a string that reads as SQL (a statement, or a WHERE
fragment such as ``"opened_at >= ?"``) fails this test: what a second backend must
implement is then all in the stores and their interfaces (``collector.db.ports``).
The agent's outbox is the agent's own embedded file and is not the collector's db layer.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("collector", "parkwatch", "simulators")
CALLS = {"execute", "executemany", "executescript", "query"}
SQL = re.compile(r"\b(SELECT\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
                 r"|CREATE\s+(TABLE|INDEX)\s|PRAGMA\s)|\w\s*(=|<|>|<=|>=|!=|\bIN|\bIS)\s*\?",
                 re.IGNORECASE)


def in_db_layer(rel: Path) -> bool:
    parts, stem = rel.parts, rel.stem
    return parts[0] == "collector" and (
        parts[1] == "db" or stem == "store" or stem.startswith("store_")
        or stem in ("schema", "core_schema"))


def sql_outside(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if f.attr in CALLS or (f.attr == "connect" and isinstance(f.value, ast.Name)
                                   and f.value.id == "sqlite3"):
                found.append(f"{node.lineno}: .{f.attr}(...)")
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
              and node.value.attr == "db"):
            found.append(f"{node.lineno}: db[...]")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(
                node.value):
            found.append(f"{node.lineno}: {node.value[:50]!r}")
    return found


def test_no_sql_outside_the_db_layer():
    outside = {}
    for pkg in SCANNED:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if not in_db_layer(rel) and (found := sql_outside(path)):
                outside[str(rel)] = found
    assert outside == {}


def test_the_check_sees_sql(tmp_path):
    """The scan would catch each kind of SQL it claims to (so an empty result means it)."""
    src = tmp_path / "m.py"
    src.write_text('db.execute("x")\nd.db["t"].insert({})\nsqlite3.connect(p)\n'
                   's.query("q")\nw = "state = ? AND x"\nq = "SELECT a FROM b"\n')
    assert len(sql_outside(src)) == 6
    assert in_db_layer(Path("collector/workflow/store_tickets.py"))
    assert not in_db_layer(Path("collector/workflow/service.py"))
