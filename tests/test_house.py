"""The tree shows the design: no import circles, and no module over 350 lines without a reason.

A module may be longer when its docstring says why, in a paragraph starting `Long module:`.
"""

from __future__ import annotations

import ast

from tests.imports import PACKAGE, SRC, import_graph

MAX_LINES = 350


def import_circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[frozenset[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in index:
                connect(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                circles.append(frozenset(group))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return circles


def test_import_circles_are_found() -> None:
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_no_module_imports_itself_in_a_circle() -> None:
    circles = import_circles(import_graph())
    assert not circles, f"import circles: {[sorted(c) for c in circles]}"


def test_long_modules_say_why() -> None:
    long_ones = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        text = path.read_text()
        lines = len(text.splitlines())
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_LINES and "Long module:" not in docstring:
            long_ones[".".join(path.relative_to(SRC).with_suffix("").parts)] = lines
    assert not long_ones, f"over {MAX_LINES} lines with no `Long module:` reason: {long_ones}"


def project_modules() -> dict[str, ast.Module]:
    """Every module of the package, by dotted name, parsed."""
    return {
        ".".join(path.relative_to(SRC).with_suffix("").parts): ast.parse(path.read_text())
        for path in sorted((SRC / PACKAGE).rglob("*.py"))
    }


def test_no_broad_except() -> None:
    """Catch what can be raised: a bare `except`, `except Exception` or `except BaseException`
    hides bugs behind a one-line message. The one exception is a boundary that logs the whole
    traceback (`log.exception`), such as a shadow model's failure, which must not reach a client."""
    broad = set()
    for module, tree in project_modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler):
                caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                logged = any("log.exception(" in ast.unparse(statement) for statement in node.body)
                if not logged and any(
                    kind is None or ast.unparse(kind) in ("Exception", "BaseException") for kind in caught
                ):
                    broad.add(f"{module}:{node.lineno}")
    assert not broad, f"broad except: {sorted(broad)}"


def test_error_classes_live_in_errors() -> None:
    """One place for the errors a user can act on (the CLI maps each to its exit status)."""
    elsewhere = [
        f"{module}.{node.name}"
        for module, tree in project_modules().items()
        if module != f"{PACKAGE}.errors"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(ast.unparse(base).endswith(("Error", "Exception")) for base in node.bases)
    ]
    assert not elsewhere, f"error classes outside {PACKAGE}/errors.py: {elsewhere}"


def test_contracts_never_import_an_engine() -> None:
    """The Spark side depends on contracts, never the reverse: an engine passes its own parts in
    (the split gate's `Profiler`), so the gates run and are tested without any engine."""
    graph = import_graph()
    reached: dict[str, set[str]] = {}
    for module in (m for m in graph if m.startswith(f"{PACKAGE}.contracts")):
        seen, pending = set(), [module]
        while pending:
            for imported in graph.get(pending.pop(), ()):
                if imported not in seen:
                    seen.add(imported)
                    pending.append(imported)
        reached[module] = {m for m in seen if m.startswith((f"{PACKAGE}.spark", f"{PACKAGE}.stages"))}
    assert not any(reached.values()), {m: sorted(r) for m, r in reached.items() if r}
