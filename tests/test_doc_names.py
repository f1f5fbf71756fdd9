"""The architecture and development docs name only what exists.

Every backticked span in docs/architecture.md and docs/development.md that looks like code is
resolved against the source: a repository path (`bot/outbox.py`) must exist, a dotted product
name (`bot.clicks.FOLLOWUPS`) must import, `Class.member` (`Dispatcher.run`) must be a member of
a product class, and a bare class-like name (`RestoreService`) must be defined in a product
package. Names of other libraries are listed in `FOREIGN`.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("docs/architecture.md", "docs/development.md")
PACKAGES = ("bot", "handlers", "snapbot", "devtools")
#: class-like names the docs use that belong to other libraries or to Python
FOREIGN = frozenset({"AsyncSocketModeHandler", "StrEnum", "AsyncApp", "AsyncWebClient",
                     "DataclassInstance", "SlackApiError"})

_SPAN = re.compile(r"`([^`\n]+)`")
_PATH = re.compile(r"(?:bot|handlers|snapbot|devtools|tests|docs|deploy|bench|\.ci)/[\w./-]*")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_CLASSLIKE = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+")


def _product_modules() -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "__main__.py":
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def _classes() -> dict[str, list[type]]:
    """Every class (and Protocol) defined at the top of a product module, by name."""
    found: dict[str, list[type]] = {}
    for name in _product_modules():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a development tool needing Cloudify's own source
            if name.startswith("devtools.") and exc.name and exc.name.split(".")[0] not in PACKAGES:
                continue
            raise
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == name:
                found.setdefault(value.__name__, []).append(value)
    return found


def _instance_attributes(cls: type) -> set[str]:
    """Attributes a class's methods assign on `self` (read from its source)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] not in PACKAGES:
            continue
        module = importlib.import_module(klass.__module__)
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.name == klass.__name__:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) \
                            and sub.value.id == "self" and isinstance(sub.ctx, ast.Store):
                        names.add(sub.attr)
    return names


def _has_member(cls: type, member: str) -> bool:
    if hasattr(cls, member) or member in getattr(cls, "__annotations__", {}):
        return True
    if dataclasses.is_dataclass(cls) and member in {f.name for f in dataclasses.fields(cls)}:
        return True
    return member in _instance_attributes(cls)


def _resolve_dotted(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if isinstance(obj, type) and not hasattr(obj, attr):
                return _has_member(obj, attr)
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _spans() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # diagrams and shell sessions
        out += [(doc, m.group(1).strip()) for m in _SPAN.finditer(text)]
    return out


def _problems() -> list[str]:
    classes = _classes()
    problems = []
    for doc, span in _spans():
        # `Name(arguments)`: the name is what must exist
        code = span.split("(", 1)[0].strip()
        if _PATH.fullmatch(code.rstrip("/")) or _PATH.fullmatch(code):
            path = code.split("#", 1)[0]
            if not (ROOT / path).exists():
                problems.append(f"{doc}: `{span}`: no such path")
        elif _DOTTED.fullmatch(code):
            head, _, rest = code.partition(".")
            if head in PACKAGES:
                if not _resolve_dotted(code):
                    problems.append(f"{doc}: `{span}`: does not import")
            elif head in classes and not any(_has_member(cls, rest.split(".")[0])
                                             for cls in classes[head]):
                problems.append(f"{doc}: `{span}`: {head} has no {rest}")
        elif _CLASSLIKE.fullmatch(code) and code not in FOREIGN and code not in classes:
            problems.append(f"{doc}: `{span}`: no such class in {', '.join(PACKAGES)}")
    return problems


def test_the_docs_name_only_what_exists() -> None:
    assert _problems() == []


@pytest.mark.parametrize("span", ["Dispatcher.followup", "bot.clicks.NOPE", "NoSuchService",
                                  "bot/no_such_module.py"])
def test_a_name_that_does_not_exist_is_found(span: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.test_doc_names._spans", lambda: [("doc", span)])
    assert len(_problems()) == 1
