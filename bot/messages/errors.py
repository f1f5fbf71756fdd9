"""Errors told to people: what went wrong, on which manager, and what to do; a refused command;
a command typed wrong, with its usage line."""
from __future__ import annotations

from bot.errors import (
    ArchiveError,
    CloudifyError,
    ManagerUnavailable,
    NotAuthorized,
    SnapbotError,
    Unauthorized,
    UsageError,
)
from bot.messages.blocks import context, section
from bot.messages.common import Message, message


def not_authorized(reason: str | NotAuthorized = "", action: str | None = None) -> Message:
    """You may not do this (with why, when known)."""
    why = str(reason) if reason else "you are not allowed to do that"
    what = f" `{action}`" if action else ""
    text = f":no_entry: Not authorized{what}: {why}"
    return message(text, [section(text)])


def _manager_label(err: BaseException, manager: str | None) -> str:
    own = err.manager if isinstance(err, (CloudifyError, ArchiveError)) else ""
    name = manager or own
    return f"manager `{name}`" if name else "the manager"


def error_text(err: BaseException, manager: str | None = None) -> str:
    """What failed, in one line of plain words (job cards, thread replies, the terminal).

    `manager` names the manager involved; by default the error's own `manager` (the client stamps
    it). Never a traceback, and never the text of an unexpected exception: that may hold details
    meant for the log only (which `logger.exception` already has)."""
    who = _manager_label(err, manager)
    if isinstance(err, ManagerUnavailable):
        detail = err.manager_message or ""
        if detail.startswith("cannot reach the manager"):
            return f"cannot reach {who}{detail[len('cannot reach the manager'):]}"
        return f"cannot reach {who}: {detail}" if detail else f"cannot reach {who}"
    if isinstance(err, Unauthorized):
        return (f"authentication failed for {who} ({err.manager_message}); check the "
                "credentials snapbot uses for it (its password or token setting)")
    if isinstance(err, CloudifyError):
        code = f" (`{err.error_code}`)" if err.error_code else ""
        return f"{who} answered with an error{code}: {err.manager_message}"
    if isinstance(err, SnapbotError):
        return err.user_message
    return f"unexpected error ({type(err).__name__}); the details are in snapbot's log"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def error_message(err: BaseException, manager: str | None = None) -> Message:
    """A user-facing message for any error. Never a traceback; unexpected exceptions get a
    generic text (their own may hold details meant for the log only). Manager errors say which
    manager (`manager`, else the error's own) and, for refusals, the manager's own message."""
    if isinstance(err, UsageError):
        return usage_error(err)
    if isinstance(err, NotAuthorized):
        return not_authorized(err)
    if isinstance(err, ManagerUnavailable):
        text = f":electric_plug: {_capital(error_text(err, manager))}"
        return message(text, [section(text), context(
            "The manager could not be reached. It may be restarting (a restore does that); "
            "try again in a minute, or check its URL and that it is up.")])
    if isinstance(err, Unauthorized):
        who = _manager_label(err, manager)
        text = (f":lock: Authentication failed for {who}: {err.manager_message}")
        return message(text, [section(text), context(
            "Check the credentials snapbot uses for this manager (its username and the password "
            "or token in snapbot's environment); nothing was changed on the manager.")])
    if isinstance(err, CloudifyError):
        text = f":x: {_capital(error_text(err, manager))}"
        blocks = [section(text)]
        if err.method:
            blocks.append(context(f"{err.method} {err.path}" + (f" → {err.status}" if err.status else "")))
        return message(text, blocks)
    if isinstance(err, SnapbotError):
        text = f":warning: {err.user_message}"
        return message(text, [section(text)])
    text = ":boom: Something went wrong; the details are in snapbot's log."
    return message(text, [section(text)])


def usage_error(err: UsageError) -> Message:
    """What was wrong with the command, and its usage line."""
    problem = err.problem or str(err)
    usage = err.usage
    blocks = [section(f":warning: {problem}")]
    if usage:
        blocks.append(section(f"Usage: `{usage}`"))
    blocks.append(context("`/cfy help` lists every command."))
    text = f"{problem}" + (f" Usage: {usage}" if usage else "")
    return message(text, blocks)
