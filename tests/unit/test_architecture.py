"""The shape of the house (docs/architecture.md), checked on the source with ``ast``.

No server, no import of the package: every module under ``src/madeinpk`` is parsed and its
``import`` statements (top level, in functions, under ``TYPE_CHECKING``: all of them) are read.

- (a) no import cycle between domain packages;
- (b) every module sits in a layer and imports only what its layer may: the kernel (a few root
  modules) imports nothing of the package but the kernel; the adapters (``db``, ``redis_io``,
  ``asgi``, ``observability``) import no domain and no assembly module; ``madeinpk.http``
  imports no domain; a domain imports only domains below it, only the narrow interface of
  notifications, the kernel, the adapters' domain-facing modules and ``madeinpk.http``; the
  assembly (the rest of the root, ``admin``, ``sample_data``) imports anything;
- (c) no function-level import of a ``madeinpk`` module inside ``src/madeinpk``;
- (d) the root holds at most ``MAX_ROOT_MODULES`` modules, each of them kernel or assembly;
- (e) no module is longer than ``MAX_LINES`` lines;
- (f) ``auctions`` keeps its rooms: bidding, live, lifecycle.

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
# email, the email templates, the notices' words and the languages (texts), and the tables (the
# notification types; the bid path writes its Notification and OutboxEmail rows in bulk, in its
# own statements).
NOTIFICATIONS_INTERFACE = frozenset(
    {
        "madeinpk.notifications",
        "madeinpk.notifications.service",
        "madeinpk.notifications.emails",
        "madeinpk.notifications.texts",
        "madeinpk.notifications.tables",
    }
)

# The kernel: root modules below every domain and adapter, importing nothing of the package but
# each other. Domains register what the kernel needs of them (after_commit.Broadcasting) instead.
KERNEL = frozenset(
    {
        "madeinpk.after_commit",  # effects a transaction causes, run after commit
        "madeinpk.broker",  # @task, how tasks are declared (brokers are built by the assembly)
        "madeinpk.media",
        "madeinpk.money",
        "madeinpk.settings",
        "madeinpk.timestamps",
    }
)

# The assembly: builds the app and the processes from everything below it.
ASSEMBLY_ROOT = frozenset(
    {
        "madeinpk",
        "madeinpk.__main__",
        "madeinpk.app",  # create_app
        "madeinpk.cli",
        "madeinpk.pages",
        "madeinpk.scheduling",  # the scheduler process
        "madeinpk.tasks",  # the task registry, the worker process, brokers
    }
)
ASSEMBLY_PACKAGES = ("admin", "sample_data")

# Adapters: the database, Redis, the ASGI server's edges, observability. Below the domains.
ADAPTER_PACKAGES = ("db", "redis_io", "asgi", "observability")

# What domains may use of the adapters.
DOMAIN_MAY_IMPORT = frozenset(
    {
        "madeinpk.db.database",  # tables, transactions, the engine check
        "madeinpk.db.sql",  # raw SQL on the transaction's connection
        "madeinpk.db.held_writes",  # a write on condition that the row still holds a state
        "madeinpk.db.read_replicas",  # stale_read: where a read that tolerates staleness goes
        "madeinpk.redis_io.redis_topology",  # where a Redis client is built
        "madeinpk.observability.logs",
        "madeinpk.observability.metrics",
    }
)

# What ``madeinpk.http`` may import of the package besides the kernel: nothing but these.
HTTP_MAY_IMPORT = frozenset({"madeinpk.db.database", "madeinpk.redis_io.redis_topology"})

MAX_ROOT_MODULES = 12
MAX_LINES = 400

# auctions' rooms (sub-packages) and the modules each must hold.
AUCTION_ROOMS = {
    "bidding": {"rules", "refusals", "desk", "row_state", "writes", "keys", "rate_limit", "owners"},
    "live": {"hub", "rooms", "watchers", "room_state", "replay", "recovery", "snapshot", "socket"}
    | {"messages", "asyncapi"},
    "lifecycle": {"endings", "outcomes", "batching"},
}

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
                        # ``from madeinpk.observability import metrics`` imports that module
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


def _layer(module: str) -> str:
    """kernel, adapter, http, domain or assembly; "unplaced" for a root module in neither list."""
    parts = module.split(".")
    if module in KERNEL:
        return "kernel"
    if module in ASSEMBLY_ROOT or (len(parts) > 1 and parts[1] in ASSEMBLY_PACKAGES):
        return "assembly"
    if len(parts) > 1 and parts[1] in ADAPTER_PACKAGES:
        return "adapter"
    if len(parts) > 1 and parts[1] == "http":
        return "http"
    if _domain(module):
        return "domain"
    return "unplaced"


def _direction_problem(imp: Import) -> str | None:
    """Why this import breaks the direction, or None."""
    layer, target_layer = _layer(imp.module), _layer(imp.target)
    if layer == "assembly":
        return None  # the assembly assembles everything
    if layer == "kernel":
        if target_layer == "kernel":
            return None
        return "the kernel imports only the kernel: domains register with it instead"
    if layer == "adapter":
        if target_layer in ("kernel", "adapter", "http"):
            return None
        return "an adapter may not import a domain or the assembly"
    if layer == "http":
        if target_layer in ("kernel", "http") or imp.target in HTTP_MAY_IMPORT:
            return None
        return "madeinpk.http is below every domain and the app"
    if layer == "unplaced":
        return "a root module must be kernel or assembly (or move into a package)"
    source, target = _domain(imp.module), _domain(imp.target)
    if target == source or target_layer in ("kernel", "http"):
        return None
    if target is None:
        if imp.target in DOMAIN_MAY_IMPORT:
            return None
        return (
            "a domain may not import the app factory, the CLI, a transport, an assembly module "
            "or an adapter outside DOMAIN_MAY_IMPORT"
        )
    assert source is not None
    if DOMAINS.index(target) > DOMAINS.index(source):
        return f"{source} is below {target}"
    if target == "notifications" and imp.target not in NOTIFICATIONS_INTERFACE:
        return "other domains call notifications only through its interface"
    return None


def _location(imp: Import) -> str:
    return f"{MODULES[imp.module].relative_to(SRC.parent)}:{imp.line}: {imp.target}"


def test_the_parser_sees_the_package() -> None:
    assert {"madeinpk.app", "madeinpk.http.errors", "madeinpk.auctions.bidding.desk"} <= set(
        MODULES
    )
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
        (
            "madeinpk.auctions.live.socket",
            "madeinpk.redis_io.redis_channels",
            "a domain may not import",
        ),
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


def test_every_root_module_is_kernel_or_assembly() -> None:
    unplaced = [m for m in MODULES if _layer(m) == "unplaced"]
    assert not unplaced, f"put these in a package, or list them as kernel or assembly: {unplaced}"


def test_the_root_holds_few_modules() -> None:
    root = sorted(p.stem for p in (SRC / PACKAGE).glob("*.py") if p.name != "__init__.py")
    assert len(root) <= MAX_ROOT_MODULES, f"{len(root)} modules at the root: {root}"


def test_the_kernel_loads_no_database_or_redis_driver_code() -> None:
    """What every domain imports of the database does not pull in the engines (the assembly's)."""
    for module in ("madeinpk.db.database", "madeinpk.db.sql", *KERNEL):
        targets = {i.target for i in IMPORTS if i.module == module}
        assert not targets & {"madeinpk.db.pg_engine", "madeinpk.db.engines"}, module
        assert not any(t.startswith("madeinpk.redis_io.") for t in targets), module


def test_no_module_is_too_long() -> None:
    long = {
        str(path.relative_to(SRC.parent)): lines
        for path in MODULES.values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_auctions_has_its_rooms() -> None:
    auctions = SRC / PACKAGE / "auctions"
    for room, modules in AUCTION_ROOMS.items():
        present = {p.stem for p in (auctions / room).glob("*.py")}
        assert (auctions / room / "__init__.py").exists(), room
        assert modules <= present, f"auctions/{room}/ lacks {sorted(modules - present)}"
    # nothing of a room lies loose beside the rooms
    loose = {p.stem for p in auctions.glob("*.py")}
    roomed = set().union(*AUCTION_ROOMS.values())
    assert not loose & roomed, sorted(loose & roomed)
