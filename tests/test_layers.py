"""The domain never imports Slack libraries or the Slack handlers (AST scan of every bot/ file)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("slack_bolt", "slack_sdk", "handlers")


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            out.append((node.lineno, str(node.args[0].value)))
    return out


def test_bot_package_never_imports_slack_libraries_or_handlers():
    offenders = []
    files = sorted((ROOT / "bot").rglob("*.py"))
    assert files, "no bot/ sources found"
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for lineno, module in _imported_modules(tree):
            if module.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {module}")
    assert offenders == []


def test_layer_scan_sees_a_forbidden_import():
    tree = ast.parse("import os\nfrom slack_sdk.web import WebClient\nimportlib.import_module('handlers.app')\n")
    modules = [m for _, m in _imported_modules(tree)]
    assert "slack_sdk.web" in modules and "handlers.app" in modules
