"""manifest.yml matches the code: the same slash commands, and exactly the scopes the code needs."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import yaml

from bot.config.settings import ManagerConfig, Settings
from handlers.app import register_all

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

#: Web API method -> bot scope it needs (None: no scope, e.g. auth.test; apps.connections.open
#: uses the app-level token's connections:write, not a bot scope). A method the code calls that
#: is missing here fails the test: add it with its scope.
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "apps.connections.open": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.delete": "chat:write",
    "users.info": "users:read",
    "usergroups.users.list": "usergroups:read",
    "conversations.info": "channels:read",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "reactions.add": "reactions:write",
    "files.uploadV2": "files:write",
    "views.publish": None,  # the App Home tab: no scope
}
#: Scopes justified by a manifest feature rather than a method call.
FEATURE_SCOPES = {"commands": lambda m: bool(m["features"].get("slash_commands"))}
_API_PREFIXES = ("chat", "users", "usergroups", "conversations", "reactions", "files", "views", "apps",
                 "auth", "pins", "bookmarks", "team", "emoji")


class _RecordingApp:
    """Stands in for AsyncApp during registration: records what each listener is bound to."""

    def __init__(self) -> None:
        self.bound: dict[str, list[object]] = {}

    def __getattr__(self, kind: str):
        def decorator_factory(*matchers, **_kw):
            self.bound.setdefault(kind, []).extend(matchers)
            return lambda fn: fn
        return decorator_factory


class _Services(SimpleNamespace):
    """Enough of Services for registration: real default settings, every service absent."""

    def __getattr__(self, name: str):
        return None


def _registered(kind: str) -> set[str]:
    app = _RecordingApp()
    register_all(app, _Services(settings=Settings(managers=(ManagerConfig("default", "https://cfy.example"),))))
    return {m for m in app.bound.get(kind, []) if isinstance(m, str)}


def _web_api_methods_called() -> set[str]:
    """Web API methods called anywhere in handlers/ (slack_sdk's snake_case client methods,
    and api_call("x.y") literals), plus auth.test, which Bolt calls itself."""
    found = {"auth.test"}
    for path in (ROOT / "handlers").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            name = node.func.attr
            if name == "api_call" and node.args and isinstance(node.args[0], ast.Constant):
                found.add(str(node.args[0].value))
            elif re.match(rf"^({'|'.join(_API_PREFIXES)})_[A-Za-z_]+$", name):
                found.add(name.replace("_", "."))
    return found


def test_every_manifest_slash_command_is_registered_and_vice_versa():
    in_manifest = {c["command"] for c in MANIFEST["features"]["slash_commands"]}
    assert in_manifest == _registered("command")


def test_every_web_api_method_the_code_calls_has_a_known_scope():
    unknown = _web_api_methods_called() - set(METHOD_SCOPES)
    assert unknown == set(), f"add these methods and their scopes to METHOD_SCOPES: {unknown}"


def test_manifest_has_every_scope_the_code_needs():
    needed = {METHOD_SCOPES[m] for m in _web_api_methods_called() if METHOD_SCOPES.get(m)}
    assert needed <= set(MANIFEST["oauth_config"]["scopes"]["bot"])


def test_manifest_has_no_unused_scope():
    needed = {METHOD_SCOPES[m] for m in _web_api_methods_called() if METHOD_SCOPES.get(m)}
    needed |= {scope for scope, used in FEATURE_SCOPES.items() if used(MANIFEST)}
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed


def test_manifest_enables_interactivity_for_buttons():
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert _registered("action"), "no button handlers registered"


def test_slash_command_has_a_description_and_usage_hint():
    for cmd in MANIFEST["features"]["slash_commands"]:
        assert cmd["description"] and len(cmd["description"]) <= 100
        assert cmd["usage_hint"] and len(cmd["usage_hint"]) <= 100


def test_every_manifest_event_is_registered_and_vice_versa():
    in_manifest = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert in_manifest == _registered("event")


def test_the_home_tab_is_enabled_for_app_home_opened():
    assert "app_home_opened" in _registered("event")
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    assert "views.publish" in _web_api_methods_called()
