"""The layers hold: an AST scan of every module of bot/, handlers/, snapbot/ and devtools/, with
imports inside functions (and under TYPE_CHECKING) counted like any other.

    bot/       the domain: imports none of handlers/, devtools/, snapbot/, nor a Slack library
    handlers/  the Slack app: never imports the Cloudify client nor reaches for it
    snapbot/   the entry point: composes bot/ and handlers/; imports devtools/ only inside the
               functions of `snapbot demo` / `snapbot simulator` (snapbot/main.py), so a product
               process never loads the development tools
    devtools/  simulator, Slack stand-in, demo: may import anything above, is imported by no
               product module

The simulator keeps time in one place: no module of devtools/simulator but its clock module reads
the system clock or sleeps (`time.*`, `asyncio.sleep`, `datetime.now`/`utcnow`, `loop.time`), so a
test can run it on a clock it moves by hand.

Plus: no import cycles between modules (importing `a.b.c` runs `a` and `a.b` too, so those count),
every product module one concept (below), no importlib in product code, no
`Any`-annotated service or collaborator parameter, no module setting a field of the services
(the record is built once, last, by bot.bootstrap), and each database table named in SQL by
its owner only (`TABLE_OWNERS`).

One concept per module, the rule that replaces a line count: a module's top-level names form one
group, where two names are in one group when one refers to the other or another module uses them
together (one `from m import a, b`, or `m.a` and `m.b` through one import). Names that fall into
groups nothing uses together are two concepts: two modules.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "snapbot", "devtools")
PRODUCT = ("bot", "handlers", "snapbot")
SLACK_LIBS = ("slack_bolt", "slack_sdk")
#: the packages of this repository
OURS = (*PRODUCT, "devtools", "tests")
#: Parameter names that carry a service or collaborator: never typed `Any`.
COLLABORATORS = frozenset({
    "services", "store", "runner", "notifier", "clock", "dispatcher", "approvals", "restores",
    "daily", "client", "clients", "scheduler", "policy", "settings", "service", "app",
})


@dataclass
class Import:
    module: str  # as written, resolved to absolute
    lineno: int
    in_function: bool
    names: tuple[str, ...] = ()  # `from module import names`
    type_only: bool = False  # under `if TYPE_CHECKING:`: never runs


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: list[Import] = field(default_factory=list)

    @property
    def rel(self) -> str:
        return str(self.path.relative_to(self.root))

    root: Path = ROOT


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def scan_imports(tree: ast.AST, name: str, is_package: bool) -> list[Import]:
    """Every import in `tree`, at any depth; relative imports resolved against `name`;
    `importlib.import_module("x")` / `__import__("x")` with a literal count too."""
    out: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            guarded = type_only or _is_type_checking(child)
            if isinstance(child, ast.Import):
                out.extend(Import(a.name, child.lineno, in_function, type_only=type_only)
                           for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = name.split(".") if is_package else name.split(".")[:-1]
                    package = package[:len(package) - (child.level - 1)]
                    base = ".".join(package + ([base] if base else []))
                out.append(Import(base, child.lineno, in_function, tuple(a.name for a in child.names),
                                  type_only=type_only))
            elif (isinstance(child, ast.Call) and child.args and isinstance(child.args[0], ast.Constant)
                  and getattr(child.func, "attr", getattr(child.func, "id", "")) in ("import_module", "__import__")):
                out.append(Import(str(child.args[0].value), child.lineno, in_function))
            visit(child, inner, guarded)

    visit(tree, False, False)
    return out


def load(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = module_name(path, root)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            mod = Module(name, path, tree, root=root)
            mod.imports = scan_imports(tree, name, path.name == "__init__.py")
            modules[name] = mod
    return modules


def targets(imp: Import, known: set[str], importer: str) -> set[str]:
    """The known modules an import runs: the module itself, its parent packages (but not the
    importer's own ancestors, which are already running), and for `from pkg import sub` the
    submodule `pkg.sub`. So `from bot.commands import model` inside bot.commands.parser runs
    bot/commands/__init__.py: a cycle if that imports the parser."""
    found: set[str] = set()
    parts = imp.module.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in known and (i == len(parts) or not importer.startswith(prefix + ".")):
            found.add(prefix)
    for n in imp.names:
        if f"{imp.module}.{n}" in known:
            found.add(f"{imp.module}.{n}")
    return found


def graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    """What each module runs when imported (imports under TYPE_CHECKING run nothing; product
    code has none, a test holds that)."""
    known = set(modules)
    return {name: set().union(*(targets(i, known, name) for i in mod.imports if not i.type_only)) - {name}
            for name, mod in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def in_package(mod: Module, *packages: str) -> bool:
    return top(mod.name) in packages


# -- the rules, each a function of the scanned modules (so the self-tests can feed it a bad tree) --

def import_cycles(modules: dict[str, Module]) -> list[list[str]]:
    return cycles(graph(modules))


def domain_leaks(modules: dict[str, Module]) -> list[str]:
    forbidden = ("handlers", "devtools", "snapbot", *SLACK_LIBS)
    return [f"{m.rel}:{i.lineno} imports {i.module}" for m in modules.values() if in_package(m, "bot")
            for i in m.imports if top(i.module) in forbidden]


def handlers_reaching_the_client(modules: dict[str, Module]) -> list[str]:
    out = []
    for m in modules.values():
        if not in_package(m, "handlers"):
            continue
        for i in m.imports:
            if i.module == "bot.cloudify.client" or (i.module == "bot.cloudify" and "client" in i.names) \
                    or (i.module == "bot.cloudify" and "CloudifyClient" in i.names):
                out.append(f"{m.rel}:{i.lineno} imports the Cloudify client")
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Attribute) and node.attr == "clients":
                out.append(f"{m.rel}:{node.lineno} reaches for services.clients")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "client"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "services"):
                out.append(f"{m.rel}:{node.lineno} calls services.client()")
    return out


def product_importing_devtools(modules: dict[str, Module]) -> list[str]:
    """devtools/ is imported by no product module, except inside a function of snapbot/main.py
    (the `demo` and `simulator` subcommands)."""
    out = []
    for m in modules.values():
        if not in_package(m, *PRODUCT):
            continue
        for i in m.imports:
            if top(i.module) == "devtools" and not (m.name == "snapbot.main" and i.in_function):
                out.append(f"{m.rel}:{i.lineno} imports {i.module}")
    return out


def type_only_imports(modules: dict[str, Module]) -> list[str]:
    """Imports of our own modules under TYPE_CHECKING in product code: a cycle hidden from the
    runtime. (A library's names that exist only in its type stubs, such as obstore's typed
    dicts, can only be imported that way.)"""
    return [f"{m.rel}:{i.lineno} imports {i.module} for type checking only" for m in modules.values()
            if in_package(m, *PRODUCT) for i in m.imports if i.type_only and top(i.module) in OURS]


def top_level_names(tree: ast.Module) -> dict[str, ast.stmt]:
    """The functions, classes and assigned names a module defines at its top level."""
    out: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(t, ast.Name):
                    out[t.id] = node
    return out


def used_together(modules: dict[str, Module]) -> dict[str, list[set[str]]]:
    """For each module, the sets of its names that another module uses together: the names of
    one `from m import a, b`, and the attributes read through one `import m as x` /
    `from pkg import m` (`x.a`, `x.b`)."""
    defined = {name: set(top_level_names(m.tree)) for name, m in modules.items()}
    out: dict[str, list[set[str]]] = {name: [] for name in modules}
    for client in modules.values():
        aliases: dict[str, str] = {}
        for node in ast.walk(client.tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                if node.module in modules and node.module != client.name:
                    names = {a.name for a in node.names} & defined[node.module]
                    if names:
                        out[node.module].append(names)
                for a in node.names:
                    if f"{node.module}.{a.name}" in modules:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in modules})
        through: dict[str, set[str]] = {}
        for node in ast.walk(client.tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases:
                target = aliases[node.value.id]
                if node.attr in defined[target] and target != client.name:
                    through.setdefault(target, set()).add(node.attr)
        for target, names in through.items():
            out[target].append(names)
    return out


def concepts(modules: dict[str, Module], mod: Module,
             together: dict[str, list[set[str]]]) -> list[list[str]]:
    """The groups a module's names fall into: two names are in one group when one refers to the
    other, or when another module uses them together (transitively). Names nothing uses (the
    entry points of a module run as a script, say) are left out."""
    defs = top_level_names(mod.tree)
    parent = {n: n for n in defs}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def join(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    used: set[str] = set()
    for name, node in defs.items():
        for ref in {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} & set(defs) - {name}:
            join(name, ref)
            used |= {name, ref}
    for names in together.get(mod.name, []):
        first, *rest = sorted(names)
        used |= names
        for other in rest:
            join(first, other)
    groups: dict[str, list[str]] = {}
    for name in sorted(used):
        if not name.startswith("__"):
            groups.setdefault(find(name), []).append(name)
    return sorted(groups.values(), key=lambda g: (-len(g), g))


#: the modules where a job kind's payload meets the job row's JSON (`params`, `result`)
PAYLOAD_EDGES = ("bot.jobs.daily.payload", "bot.jobs.payload", "bot.jobs.simple_payload",
                 "bot.jobs.drill.payload", "bot.jobs.restore.payload")


def string_key_reads(modules: dict[str, Module]) -> list[str]:
    """Reads of a job's `params` / `result` by string key (`job.params["x"]`,
    `job.result.get("x")`, and the same through a local name bound to them) outside the payload
    edges: a key typed wrong is found at run time, if at all."""
    out = []
    for mod in modules.values():
        if not in_package(mod, *PRODUCT) or mod.name in PAYLOAD_EDGES:
            continue
        aliases: set[str] = set()
        for node in ast.walk(mod.tree):
            # a name bound to anything built from a payload (`r = job.result or {}`,
            # `p = dict(job.params)`) reads it too
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None \
                    and any(isinstance(n, ast.Attribute) and n.attr in ("params", "result")
                            for n in ast.walk(node.value)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                aliases |= {t.id for t in targets if isinstance(t, ast.Name)}
        for node in ast.walk(mod.tree):
            target = None
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                    and isinstance(node.slice.value, str):
                target = node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "get" and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                target = node.func.value
            if target is None:
                continue
            if (isinstance(target, ast.Attribute) and target.attr in ("params", "result")) or \
                    (isinstance(target, ast.Name) and target.id in aliases):
                out.append(f"{mod.rel}:{node.lineno}")
    return out


#: every table of the database and the one module whose SQL (and schema) may name it
TABLE_OWNERS = {
    "migrations": "bot.store", "jobs": "bot.store", "transitions": "bot.store",
    "approvals": "bot.store", "daily_runs": "bot.store",
    "outbox": "bot.outbox", "outbox_lease": "bot.outbox",
    "audit": "bot.audit",
    "daily_schedule": "bot.jobs.daily.service",
}
_SQL_START = re.compile(r"\s*(?:select|insert|update|delete|create|with|replace)\s", re.IGNORECASE)
_SQL_TABLE = re.compile(r"\b(?:from|into|update|join|table|exists|on)\s+\"?(\w+)", re.IGNORECASE)


def _text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's literal parts (its fields left out)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return " ".join(v.value for v in node.values
                        if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def sql_on_others_tables(modules: dict[str, Module]) -> list[str]:
    """A table named in SQL, or through sqlite-utils (`db.table("x")`, `db["x"]`), by a product
    module other than its owner (`TABLE_OWNERS`): each table keeps its SQL and schema in one
    module, and others ask that module."""
    out: list[tuple[str, int, str]] = []
    for mod in modules.values():
        if not in_package(mod, *PRODUCT):
            continue
        in_fstrings = {id(v) for n in ast.walk(mod.tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(mod.tree):
            named: set[str] = set()
            text = _text(node)
            if text is not None and id(node) not in in_fstrings and _SQL_START.match(text):
                named = {t.lower() for t in _SQL_TABLE.findall(text)}
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "table" and node.args:
                named = {_text(node.args[0]) or ""}
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "db":
                named = {_text(node.slice) or ""}
            for table in sorted(named & set(TABLE_OWNERS)):
                if TABLE_OWNERS[table] != mod.name:
                    out.append((mod.rel, node.lineno, f"{mod.rel}:{node.lineno} names table {table} "
                                                       f"(owned by {TABLE_OWNERS[table]})"))
    return [text for _, _, text in sorted(set(out))]


def split_concepts(modules: dict[str, Module]) -> list[str]:
    """Product modules whose names fall into more than one group: two concepts in one file."""
    together = used_together(modules)
    out = []
    for mod in modules.values():
        if in_package(mod, *PRODUCT) and mod.path.name != "__init__.py":
            groups = concepts(modules, mod, together)
            if len(groups) > 1:
                out.append(f"{mod.rel}: " + " | ".join(", ".join(g[:4] + (["…"] if len(g) > 4 else []))
                                                       for g in groups))
    return out


def importlib_uses(modules: dict[str, Module]) -> list[str]:
    return [f"{m.rel}:{i.lineno} imports {i.module}" for m in modules.values() if in_package(m, *PRODUCT)
            for i in m.imports if top(i.module) == "importlib" or i.module == "__import__"] + \
        [f"{m.rel}:{n.lineno} calls __import__" for m in modules.values() if in_package(m, *PRODUCT)
         for n in ast.walk(m.tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "__import__"]


def _is_any(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation.value.strip() in ("Any", "typing.Any")
    return (isinstance(annotation, ast.Name) and annotation.id == "Any") or \
        (isinstance(annotation, ast.Attribute) and annotation.attr == "Any")


def any_typed_collaborators(modules: dict[str, Module]) -> list[str]:
    out = []
    for m in modules.values():
        if not in_package(m, *PRODUCT):
            continue
        for node in ast.walk(m.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                for arg in a.posonlyargs + a.args + a.kwonlyargs:
                    if arg.arg in COLLABORATORS and _is_any(arg.annotation):
                        out.append(f"{m.rel} {node.name}({arg.arg}: Any)")
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, (ast.Name, ast.Attribute)):
                target = node.target.id if isinstance(node.target, ast.Name) else node.target.attr
                if target in COLLABORATORS and _is_any(node.annotation):
                    out.append(f"{m.rel} {target}: Any")
    return out


def services_mutations(modules: dict[str, Module]) -> list[str]:
    """Assignments to a field of `services` (or `self.services`): the record is built once, last."""
    out = []
    for m in modules.values():
        if not in_package(m, *PRODUCT):
            continue
        for node in ast.walk(m.tree):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
            for t in targets:
                if isinstance(t, ast.Attribute) and (
                        (isinstance(t.value, ast.Name) and t.value.id == "services")
                        or (isinstance(t.value, ast.Attribute) and t.value.attr == "services")):
                    out.append(f"{m.rel}:{node.lineno} sets services.{t.attr}")
    return out


SIM_CLOCK_MODULE = "devtools.simulator.clock"
#: the readings of the system clock and the waits a module of the simulator must leave to its clock
WALL_TIME = {("time", name) for name in ("time", "monotonic", "sleep", "perf_counter", "time_ns",
                                         "monotonic_ns")} | \
    {("asyncio", "sleep"), ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
     ("date", "today"), ("loop", "time")}


def simulator_wall_time(modules: dict[str, Module]) -> list[str]:
    """Reads of the system clock or sleeps in devtools/simulator outside its clock module: calls
    like `time.monotonic()`, `asyncio.sleep(...)`, `datetime.now(UTC)` (also through
    `datetime.datetime`), and any import of `time` or of a name from it (`from time import sleep`)."""
    out = []
    for m in modules.values():
        if not m.name.startswith("devtools.simulator") or m.name == SIM_CLOCK_MODULE:
            continue
        for i in m.imports:
            if i.module == "time" or (i.module == "asyncio" and "sleep" in i.names):
                out.append(f"{m.rel}:{i.lineno} imports {i.module}{' ' + ', '.join(i.names) if i.names else ''}")
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Attribute):
                owner = node.value.attr if isinstance(node.value, ast.Attribute) else \
                    node.value.id if isinstance(node.value, ast.Name) else ""
                if (owner, node.attr) in WALL_TIME:
                    out.append(f"{m.rel}:{node.lineno} {owner}.{node.attr}")
    return out


# -- the tests ---------------------------------------------------------------------------------

MODULES = load()

#: Known exceptions. These lists only shrink: anything not listed fails, and a listed item that
#: is gone fails too, so whoever removes one deletes its line here.
KNOWN_ANY: set[str] = set()
#: modules still reading a job's params/result by string key (216 reads when the rule came in;
#: none left: every kind, and the keys kinds share, read theirs through typed records)
KNOWN_STRING_KEYS: set[str] = set()


def _only_known(found: list, known: list | set) -> None:
    """`found` holds nothing new, and everything listed as known is still there."""
    found_set = {str(f) for f in found}
    known_set = {str(k) for k in known}
    assert found_set - known_set == set(), "new violations"
    assert known_set - found_set == set(), "fixed: remove them from the KNOWN_ list in tests/test_layers.py"


def test_the_scan_sees_every_package():
    assert {top(n) for n in MODULES} == set(PACKAGES)
    assert "snapbot.main" in MODULES and "bot.bootstrap" in MODULES


def test_no_import_cycles_function_level_imports_included():
    assert import_cycles(MODULES) == []


def test_product_code_hides_no_import_behind_type_checking():
    assert type_only_imports(MODULES) == []


def test_bot_imports_neither_slack_nor_handlers_devtools_or_the_entry_point():
    assert domain_leaks(MODULES) == []


def test_handlers_never_import_or_reach_for_the_cloudify_client():
    assert handlers_reaching_the_client(MODULES) == []


def test_devtools_are_imported_by_no_product_module_but_the_entry_points_demo_and_simulator():
    assert product_importing_devtools(MODULES) == []
    lazy = [i for i in MODULES["snapbot.main"].imports if top(i.module) == "devtools"]
    assert lazy and all(i.in_function for i in lazy)


def test_job_payloads_are_read_through_typed_records():
    """Each job kind's parameters and results are read through its typed records (its payload
    module: PAYLOAD_EDGES); the modules listed in KNOWN_STRING_KEYS still read keys."""
    _only_known(sorted({r.split(":")[0] for r in string_key_reads(MODULES)}), KNOWN_STRING_KEYS)


def test_each_table_is_named_in_sql_by_its_owner_only():
    """jobs, transitions, approvals, daily_runs: the store; outbox and its lease: the outbox;
    audit: the audit log; daily_schedule: the daily service. Each keeps its table's SQL and
    schema; any other module asks it (tests/test_schema.py: the schema has these tables)."""
    assert sql_on_others_tables(MODULES) == []


def test_every_product_module_is_one_concept():
    """A module holds one concept: its names form one group, each referring to another or used
    together with another by some module. A file whose names fall into groups that nothing uses
    together is two modules (split it); its length is not the measure."""
    assert split_concepts(MODULES) == []


def test_no_importlib_in_product_code():
    assert importlib_uses(MODULES) == []


def test_no_module_sets_a_field_of_the_services():
    assert services_mutations(MODULES) == []


def test_the_simulator_reads_time_and_sleeps_only_through_its_clock():
    assert simulator_wall_time(MODULES) == []


def test_no_any_typed_service_parameters():
    assert any_typed_collaborators(MODULES) == []


# -- self-tests: each rule sees a violation planted in a throwaway tree ------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").touch()
    return load(tmp_path)


def test_the_scan_sees_two_concepts_in_one_module(tmp_path):
    mods = _tree(tmp_path, {
        "bot/mixed.py": "A = 1\ndef uses_a():\n    return A\ndef alone():\n    return 2\n"
                        "def partner():\n    return 3\n",
        "bot/one.py": "def f():\n    return 1\ndef g():\n    return 2\n",
        "bot/user.py": "from bot.mixed import uses_a, alone\nfrom bot import one as o\n"
                       "def h():\n    return o.f() + o.g()\n",
        "handlers/other.py": "from bot.mixed import partner\n",
    })
    # uses_a and alone are used together (bot/user.py), A by uses_a; partner only on its own
    assert split_concepts(mods) == ["bot/mixed.py: A, alone, uses_a | partner"]


def test_the_scan_sees_sql_on_another_modules_table(tmp_path):
    mods = _tree(tmp_path, {
        "bot/outbox.py": 'def f(db):\n    db.execute("select * from outbox where id = ?")\n',
        "bot/intruder.py": 'def f(store, n):\n'
                           '    store.db.execute("update outbox_lease set owner = ? where name = ?")\n'
                           '    store.db.execute(f"select count(*) from audit limit {n}")\n'
                           '    store.db.table("daily_runs").insert({})\n'
                           '    return store.db["jobs"], "from jobs we learn"\n',
    })
    assert sql_on_others_tables(mods) == [
        "bot/intruder.py:2 names table outbox_lease (owned by bot.outbox)",
        "bot/intruder.py:3 names table audit (owned by bot.audit)",
        "bot/intruder.py:4 names table daily_runs (owned by bot.store)",
        "bot/intruder.py:5 names table jobs (owned by bot.store)",
    ]


def test_the_scan_sees_payload_reads_by_key_and_through_names_built_from_them(tmp_path):
    mods = _tree(tmp_path, {
        "bot/reader.py": ("def f(job):\n"
                          "    a = job.params[\"snapshot_id\"]\n"
                          "    r = job.result or {}\n"
                          "    b = r.get(\"sha256\")\n"
                          "    c: dict = dict(job.params)\n"
                          "    return a, b, c[\"x\"], job.result.get(\"y\")\n"),
        "bot/jobs/payload.py": "def g(job):\n    return job.params[\"snapshot_id\"]\n",
        "bot/typed.py": "def h(job, other):\n    rec = params_of(job)\n    return other[\"k\"], rec.snapshot_id\n",
    })
    assert sorted(string_key_reads(mods)) == ["bot/reader.py:2", "bot/reader.py:4", "bot/reader.py:6", "bot/reader.py:6"]


def test_the_scan_sees_a_cycle_hidden_in_a_function(tmp_path):
    mods = _tree(tmp_path, {"bot/a.py": "from bot import b\n",
                            "bot/b.py": "def f():\n    from bot.a import x\n"})
    assert import_cycles(mods) == [["bot.a", "bot.b"]]


def test_the_scan_sees_a_package_init_cycle(tmp_path):
    mods = _tree(tmp_path, {"bot/cmds/__init__.py": "from bot.cmds.parser import parse\n",
                            "bot/cmds/parser.py": "from . import model\n",
                            "bot/cmds/model.py": ""})
    assert import_cycles(mods) == [["bot.cmds", "bot.cmds.parser"]]


def test_the_scan_sees_forbidden_imports(tmp_path):
    mods = _tree(tmp_path, {
        "bot/x.py": "import os\ndef f():\n    from slack_sdk.web import WebClient\n"
                    "importlib.import_module('handlers.app')\n",
        "handlers/y.py": "from bot.cloudify.client import CloudifyClient\n"
                         "async def h(services):\n    await services.client(None).version()\n",
        "snapbot/run.py": "import importlib\nfrom devtools.demo import main\n",
        "snapbot/main.py": "def demo():\n    from devtools.demo import main\n",
        "bot/z.py": "from typing import Any\ndef f(services: Any, n: Any) -> None: ...\n",
        "bot/w.py": "def install(services):\n    services.daily = 1\n",
        "handlers/t.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.dispatch import D\n",
    })
    assert [s.split(" imports ")[1] for s in domain_leaks(mods)] == ["slack_sdk.web", "handlers.app"]
    assert len(handlers_reaching_the_client(mods)) == 2
    assert product_importing_devtools(mods) == ["snapbot/run.py:2 imports devtools.demo"]
    assert importlib_uses(mods) == ["snapbot/run.py:1 imports importlib"]
    assert any_typed_collaborators(mods) == ["bot/z.py f(services: Any)"]
    assert services_mutations(mods) == ["bot/w.py:2 sets services.daily"]
    assert type_only_imports(mods) == ["handlers/t.py:3 imports bot.dispatch for type checking only"]


def test_the_scan_sees_the_simulator_reading_wall_time(tmp_path):
    mods = _tree(tmp_path, {
        "devtools/simulator/__init__.py": "",
        "devtools/simulator/clock.py": "import time\nasync def s():\n    time.sleep(1)\n",
        "devtools/simulator/app.py": "import asyncio, datetime as dt\nfrom time import monotonic\n"
                                     "async def f(loop):\n    await asyncio.sleep(1)\n"
                                     "    return dt.datetime.now(), loop.time()\n",
        "devtools/standin/x.py": "import time\nT = time.time()\n",
    })
    assert simulator_wall_time(mods) == ["devtools/simulator/app.py:2 imports time monotonic",
                                         "devtools/simulator/app.py:4 asyncio.sleep",
                                         "devtools/simulator/app.py:5 datetime.now",
                                         "devtools/simulator/app.py:5 loop.time"]
