"""The shape of the town store package (gastown/daemon/store): small noun modules without
import cycles, composed only in store/__init__.py; a status, an agent status and an agent's
hook each have exactly one writer; no SQL outside the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from gastown.daemon.store import Store

SOURCE = Path(__file__).resolve().parent.parent / "gastown"
STORE = SOURCE / "daemon" / "store"
MAX_LINES = 400
SQL = re.compile(r"""["'](SELECT|UPDATE|INSERT|DELETE) |\.conn\.execute\(|\b(store|reader)\.conn\b""")
"""SQL, or the store's connection, in source outside the store package."""


def _module(path: Path) -> str:
    return "gastown.daemon.store" + ("" if path.stem == "__init__" else f".{path.stem}")


def _store_imports(path: Path) -> set[str]:
    """Store modules this file imports (type-checking-only imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gastown.daemon.store"):
            if node.module == "gastown.daemon.store":
                out |= {f"gastown.daemon.store.{a.name}" for a in node.names
                        if (STORE / f"{a.name}.py").exists()}
            else:
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("gastown.daemon.store.")}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(mod: str) -> None:
        state[mod] = 1
        stack.append(mod)
        for dep in sorted(graph.get(mod, ())):
            if state.get(dep) == 1:
                found.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        state[mod] = 2
        stack.pop()

    for mod in sorted(graph):
        if mod not in state:
            visit(mod)
    return found


def test_every_store_module_is_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in STORE.glob("*.py")}
    assert len(sizes) > 20, sizes
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_the_store_modules_import_no_cycle() -> None:
    graph = {_module(p): _store_imports(p) for p in STORE.glob("*.py")}
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_store_is_composed_flat_from_noun_functions() -> None:
    """One class over the connection, no tower: its verbs are the noun modules' functions."""
    assert [c.__name__ for c in Store.__mro__] == ["Store", "Db", "object"]
    verbs = {k: v for k, v in vars(Store).items() if not k.startswith("_")}
    assert len(verbs) > 100
    assert {v.__module__ for v in verbs.values() if callable(v)} <= {
        _module(p) for p in STORE.glob("*.py")}


def _sql_writers(pattern: str) -> set[str]:
    """Store modules whose source matches an SQL write pattern."""
    return {p.name for p in STORE.glob("*.py") if re.search(pattern, p.read_text())}


def test_each_status_and_the_hook_have_one_writer() -> None:
    assert _sql_writers(r"UPDATE beads SET status\b") == {"statuses.py"}
    assert _sql_writers(r"UPDATE agents SET status\b") == {"agents.py"}
    assert _sql_writers(r"(?<!WHERE )hook_bead_id = (\?|NULL)") == {"hooks.py"}


def test_no_sql_outside_the_store() -> None:
    """Outside the package nothing runs SQL or touches the store's connection (several verbs in
    one transaction use `store.transaction()`)."""
    offenders = [str(p.relative_to(SOURCE)) for p in SOURCE.rglob("*.py")
                 if STORE not in p.parents and SQL.search(p.read_text())]
    assert offenders == []


def test_the_sql_check_sees_a_query_and_the_connection() -> None:
    assert SQL.search('rows = x.execute("SELECT id FROM beads")')
    assert SQL.search("with town.store.conn:") and not SQL.search("ctx.conn.actor")
