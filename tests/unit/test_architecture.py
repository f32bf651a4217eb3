"""The direction of dependencies (docs/architecture.md), checked on the source with ``ast``.

No server, no import of the package: every module under ``src/madeinpk`` is parsed and its
``import`` statements (top level, in functions, under ``TYPE_CHECKING``: all of them) are read.

- (a) no import cycle between domain packages;
- (b) a domain imports only domains below it, only the narrow interface of notifications, only
  the shared modules of the package root and ``madeinpk.http``: never the app factory, the CLI,
  a transport or another root-level assembly module; ``madeinpk.http`` imports no domain;
- (c) no function-level import of a ``madeinpk`` module inside ``src/madeinpk``.

Known exceptions are listed below with their reason. An exception that no longer occurs fails
the test too, so the lists only shrink.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "madeinpk"

# Bottom to top: a domain may import the domains before it in this list, never those after it.
DOMAINS = ("notifications", "accounts", "catalog", "auctions", "orders")

# What the other domains may import of notifications, the sink: write a notification, queue an
# email, the email templates, and the tables (the notification types; the bid path writes its
# Notification and OutboxEmail rows in bulk, in its own statements).
NOTIFICATIONS_INTERFACE = frozenset(
    {
        "madeinpk.notifications",
        "madeinpk.notifications.service",
        "madeinpk.notifications.emails",
        "madeinpk.notifications.tables",
    }
)

# Root-level modules every domain may use: the kernel below all domains.
SHARED_ROOT = frozenset(
    {
        "madeinpk.after_commit",  # effects a transaction causes, run after commit
        "madeinpk.broker",  # @task, how tasks are declared (brokers are built by the assembly)
        "madeinpk.database",
        "madeinpk.logs",
        "madeinpk.media",
        "madeinpk.metrics",
        "madeinpk.money",
        "madeinpk.read_replicas",  # stale_read: where a read that tolerates staleness goes
        "madeinpk.redis_topology",  # the one place a Redis client is built (one Redis or a cluster)
        "madeinpk.settings",
        "madeinpk.sql",
        "madeinpk.timestamps",
    }
)

# What ``madeinpk.http`` may import of the package: nothing but these.
HTTP_MAY_IMPORT = frozenset({"madeinpk.database", "madeinpk.redis_topology"})

# (importing module, imported module): known direction violations, each with its reason.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}

# (module, imported module): function-level imports that are truly needed, with the reason.
FUNCTION_LEVEL_ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    module: str
    target: str
    line: int
    in_function: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports() -> list[Import]:
    found: list[Import] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))

        def visit(
            node: ast.AST, in_function: bool, module: str = module, path: Path = path
        ) -> None:
            for child in ast.iter_child_nodes(node):
                nested = in_function or isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                )
                targets: list[str] = []
                if isinstance(child, ast.Import):
                    targets = [alias.name for alias in child.names]
                elif isinstance(child, ast.ImportFrom):
                    base = _resolve(module, path, child)
                    for alias in child.names:
                        # ``from madeinpk import metrics`` imports the module madeinpk.metrics
                        sub = f"{base}.{alias.name}"
                        targets.append(sub if sub in MODULES else base)
                for target in targets:
                    if target == PACKAGE or target.startswith(PACKAGE + "."):
                        found.append(
                            Import(module, target, cast(ast.stmt, child).lineno, in_function)
                        )
                visit(child, nested)

        visit(tree, False)
    return found


IMPORTS = _imports()


def _domain(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAINS else None


def _direction_problem(imp: Import) -> str | None:
    """Why this import breaks the direction, or None."""
    source, target = _domain(imp.module), _domain(imp.target)
    if imp.module.startswith("madeinpk.http"):
        if imp.target.startswith("madeinpk.http") or imp.target in HTTP_MAY_IMPORT:
            return None
        return "madeinpk.http is below every domain and the app"
    if source is None:
        return None  # the package root assembles everything
    if target == source or imp.target.startswith("madeinpk.http"):
        return None
    if target is None:
        if imp.target in SHARED_ROOT:
            return None
        return "a domain may not import the app factory, the CLI, a transport or an assembly module"
    if DOMAINS.index(target) > DOMAINS.index(source):
        return f"{source} is below {target}"
    if target == "notifications" and imp.target not in NOTIFICATIONS_INTERFACE:
        return "other domains call notifications only through its interface"
    return None


def _location(imp: Import) -> str:
    return f"{MODULES[imp.module].relative_to(SRC.parent)}:{imp.line}: {imp.target}"


def test_the_parser_sees_the_package() -> None:
    assert {"madeinpk.app", "madeinpk.http.errors", "madeinpk.auctions.bidding"} <= set(MODULES)
    assert any(i.module == "madeinpk.app" and i.target == "madeinpk.settings" for i in IMPORTS)


def test_dependencies_point_one_way() -> None:
    problems = [
        f"{_location(imp)} ({why})"
        for imp in IMPORTS
        if (why := _direction_problem(imp)) and (imp.module, imp.target) not in KNOWN_VIOLATIONS
    ]
    assert not problems, "\n".join(problems)


def test_known_violations_are_still_there() -> None:
    """An exception that was fixed comes off the list."""
    seen = {(i.module, i.target) for i in IMPORTS if _direction_problem(i)}
    stale = set(KNOWN_VIOLATIONS) - seen
    assert not stale, f"fixed, remove from KNOWN_VIOLATIONS: {sorted(stale)}"


def _domain_graph(*, with_known: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {d: set() for d in DOMAINS}
    for imp in IMPORTS:
        source, target = _domain(imp.module), _domain(imp.target)
        if source and target and source != target:
            if with_known or (imp.module, imp.target) not in KNOWN_VIOLATIONS:
                graph[source].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycle = [*path[path.index(nxt) :], nxt]
                if min(cycle[:-1]) == cycle[0] and cycle not in cycles:  # each cycle once
                    cycles.append(cycle)
            else:
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return cycles


def test_no_import_cycle_between_domains() -> None:
    cycles = _cycles(_domain_graph(with_known=False))
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    ("module", "target", "expected"),
    [
        ("madeinpk.orders.service", "madeinpk.auctions.tables", None),
        ("madeinpk.catalog.service", "madeinpk.orders.tables", "catalog is below orders"),
        ("madeinpk.accounts.service", "madeinpk.app", "a domain may not import"),
        ("madeinpk.auctions.socket", "madeinpk.redis_channels", "a domain may not import"),
        ("madeinpk.orders.service", "madeinpk.notifications.socket", "interface"),
        ("madeinpk.http.errors", "madeinpk.accounts.tables", "below every domain"),
        ("madeinpk.app", "madeinpk.orders.controller", None),
    ],
)
def test_the_direction_rule(module: str, target: str, expected: str | None) -> None:
    why = _direction_problem(Import(module, target, 1, False))
    assert (why is None) if expected is None else (why is not None and expected in why)


def test_no_function_level_imports_of_the_package() -> None:
    problems = [
        _location(imp)
        for imp in IMPORTS
        if imp.in_function and (imp.module, imp.target) not in FUNCTION_LEVEL_ALLOWED
    ]
    assert not problems, "\n".join(problems)
