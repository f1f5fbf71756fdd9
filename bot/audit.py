"""The audit log: every command and every click, accepted or refused.

One row each (the `audit` table, created by `AuditLog.schema_v3`): when, who (a Slack user id or
`local:<login>`), from where (the surface and the channel), what (the command with its
arguments, secrets redacted), the outcome (`ok`, `refused`, `failed`) and why. The dispatcher
writes it, since every surface goes through it; `/cfy audit` reads it. Recording never fails
a command: a database that refuses the write is logged, and the command goes on.

Nothing secret is stored: every text goes through `redact` (URL credentials and query strings,
Slack tokens, `password=…`-like pairs) and is kept to one line.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.audit_entry import AuditEntry
from bot.clock import EARLIEST, iso, parse_time
from bot.commands import model as m
from bot.commands.grammar import FALSE, OPTIONAL, SINCE_SPAN, TRUE
from bot.commands.registry import COMMANDS
from bot.errors import NotAuthorized, SnapbotError, UsageError
from bot.invocation import Invocation, Reply
from bot.logs import field
from bot.messages.audit import SHOWN, audit_message
from bot.notifier import plain_text
from bot.store import Store

log = logging.getLogger(__name__)

OK, REFUSED, FAILED = "ok", "refused", "failed"
OUTCOMES = (OK, REFUSED, FAILED)
WHAT_MAX = 300
DETAIL_MAX = 300
#: Text longer than this is cut before redaction: bounded work whatever arrives.
_READ_MAX = 4000
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

# Every pattern is linear (tests/test_adversarial_input.py checks): no nested repetition, and an
# unbounded repeat only at the end, where it cannot fail and make the next try rescan.
#: Slack tokens (bot, user, app, refresh, config) and bearer tokens
_TOKEN = re.compile(r"\b(?:xox[a-z]|xapp|xoxe\.xox[a-z])-[A-Za-z0-9-]+|\b[Bb]earer [^ ]+")
_SECRET_WORDS = (r"(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|signature|"
                 r"credentials?)")
#: `password=…`, `token: …` and `--password …`: the value goes (on text already made one line:
#: single spaces)
_SECRET_PAIR = re.compile(r"(?i)(\b" + _SECRET_WORDS + r" ?[=:] ?|--" + _SECRET_WORDS
                          + r"[= ])[^\s]+")


def _url_safe(word: str) -> str:
    """One word without a URL's credentials (`user:password@`), query string or fragment."""
    scheme = word.find("://")
    if scheme < 0:  # `user:password@host` without a scheme
        at = word.rfind("@")
        return "…" + word[at:] if at > 0 and ":" in word[:at] else word
    head, rest = word[:scheme + 3], word[scheme + 3:]
    cuts = [i for i in (rest.find("?"), rest.find("#")) if i >= 0]
    if cuts:
        rest = rest[:min(cuts)] + "?…"
    slash = rest.find("/")
    authority = rest if slash < 0 else rest[:slash]
    if "@" in authority:
        rest = "…@" + rest[authority.rfind("@") + 1:]
    return head + rest


def redact(text: Any) -> str:
    """`text` as the audit log may keep it: one line, no URL credentials, no URL query string
    or fragment (a presigned URL's signature), nothing that looks like a Slack token, a bearer
    token or a password."""
    text = str(text if text is not None else "")[:_READ_MAX]
    text = " ".join(_url_safe(w) for w in text.split())
    text = _TOKEN.sub("…", text)
    return _SECRET_PAIR.sub(r"\1…", text)


def _grammar(name: str) -> tuple[set[str], dict[str, tuple[str, str]]]:
    """The command's positional argument names, and dest -> (its flag's long name, its kind)."""
    for s in COMMANDS:
        if s.name == name:
            flags = {f.dest: (max(f.names, key=len), f.kind) for f in s.grammar.flags}
            return {a.dest for a in s.grammar.args}, flags
    return set(), {}


def describe(name: str, args: dict[str, Any]) -> str:
    """The command as it could be typed again, redacted: `snapshots upload snap-1 --url
    https://host/a.zip?…`. `name` is the dotted command name; `args` the values given."""
    positional, flags = _grammar(name)
    words = [name.replace(".", " ")]
    for dest, value in args.items():
        if value is None:
            continue
        flag, kind = flags.get(dest, ("", ""))
        if dest in positional or name == "help":
            words.append(str(value))
        elif not flag:
            words.append(f"{dest}={value}")
        elif kind in (TRUE, FALSE):
            if value is (kind == TRUE):
                words.append(flag)
        elif kind == OPTIONAL and value == "":
            words.append(flag)
        else:
            words.append(f"{flag} {value}")
    return redact(" ".join(words))[:WHAT_MAX]


def describe_command(cmd: m.Command) -> str:
    """`describe` of a command, with only the values that differ from its defaults."""
    given = {}
    for f in dataclasses.fields(cmd):
        value = getattr(cmd, f.name)
        if f.default is dataclasses.MISSING or value != f.default:
            given[f.name] = value
    return describe(cmd.name, given)


def parse_since(value: str, now: datetime) -> datetime:
    """`30m`, `24h`, `7d`, `2w` back from `now`, or an ISO date or time (UTC when naive).
    Raises UsageError for anything else."""
    text = (value or "").strip()
    span = SINCE_SPAN.fullmatch(text.lower())
    if span:
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        at = parse_time(text) if len(text) <= 40 else None
    except ValueError:
        at = None
    if at is None:
        raise UsageError(f"--since {text[:40]!r} is not a time: use 30m, 24h, 7d, 2w or a date "
                         "like 2026-11-01")
    return at


def outcome_of(exc: BaseException) -> str:
    """`refused` for what the caller may not do or did not say right; `failed` otherwise."""
    return REFUSED if isinstance(exc, (NotAuthorized, UsageError)) else FAILED


def why(exc: BaseException) -> str:
    """What the audit log says about an error: its message for snapbot's own, only the type
    for anything else (its text might carry anything)."""
    if isinstance(exc, UsageError):
        return exc.problem
    if isinstance(exc, SnapbotError):
        return exc.user_message
    return f"unexpected {type(exc).__name__}"


class AuditLog:
    """The `audit` table, written and read through the store's connection and transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def schema_v3(db: sqlite_utils.Database) -> None:
        """Migration 3 (registered in bot.schema; never changes): the audit table, read newest
        first, by time or by one user's time."""
        db.table("audit").create({"id": int, "at": str, "user": str, "source": str, "channel": str,
                                  "what": str, "outcome": str, "detail": str},
                                 pk="id", not_null={"at", "user", "what", "outcome"}, if_not_exists=True)
        db.table("audit").create_index(["at"], if_not_exists=True)
        db.table("audit").create_index(["user", "at"], if_not_exists=True)

    def record(self, *, user: str, source: str, channel: str, what: str, outcome: str,
               detail: str = "") -> None:
        """Add one entry. Never raises: a failing write is logged (without the entry's
        arguments beyond the redacted command)."""
        row = {"at": iso(self.store.clock.now()), "user": redact(user)[:80] or "?",
               "source": redact(source)[:20], "channel": redact(channel)[:40],
               "what": redact(what)[:WHAT_MAX] or "?", "outcome": outcome[:20],
               "detail": redact(detail)[:DETAIL_MAX]}
        try:
            with self.store.transaction():
                self.store.db.execute(
                    "insert into audit (at, user, source, channel, what, outcome, detail)"
                    " values (:at, :user, :source, :channel, :what, :outcome, :detail)", row)
        except Exception:
            log.exception("could not record an audit entry (%s by %s: %s)", field(row["what"]),
                          field(row["user"]), field(row["outcome"]))

    def prune(self, keep_days: int) -> int:
        """Delete the entries older than `keep_days` (0: keep everything); how many went."""
        if keep_days <= 0:
            return 0
        cutoff = iso(self.store.clock.now() - timedelta(days=keep_days))
        with self.store.transaction():
            return self.store.db.execute("delete from audit where at < ?", [cutoff]).rowcount

    def record_for(self, inv: Invocation, what: str, outcome: str, detail: str = "") -> None:
        """`record` for an invocation: its user, surface and channel."""
        self.record(user=inv.user, source=inv.source, channel=inv.channel, what=what,
                    outcome=outcome, detail=detail)

    def query(self, *, user: str | None = None, since: datetime | None = None,
              limit: int = 100) -> list[AuditEntry]:
        """Entries newest first, of one user and/or since a time."""
        where, args = [], []
        if user:
            where.append("user = ?")
            args.append(user)
        if since is not None:
            where.append("at >= ?")
            args.append(iso(since))
        sql = "select at, user, source, channel, what, outcome, detail from audit"
        if where:
            sql += " where " + " and ".join(where)
        sql += " order by at desc, id desc limit ?"
        return [AuditEntry(at=parse_time(r["at"]) or EARLIEST, user=r["user"],
                           source=r["source"] or "", channel=r["channel"] or "", what=r["what"],
                           outcome=r["outcome"], detail=r["detail"] or "")
                for r in self.store.db.query(sql, [*args, max(1, int(limit))])]

    async def recorded(self, cmd: m.Command, inv: Invocation,
                       run: Callable[[m.Command, Invocation], Awaitable[Reply]]) -> Reply:
        """Run `cmd` for `inv` through `run` and record how it went: `ok` (with the job it
        started), `refused` (not allowed, a usage error, or a refusing reply) or `failed`.
        Errors propagate unchanged."""
        what = describe_command(cmd)
        try:
            reply = await run(cmd, inv)
        except Exception as exc:
            self.record_for(inv, what, outcome_of(exc), why(exc))
            raise
        if reply.refused:
            self.record_for(inv, what, REFUSED, plain_text(reply.message))
        else:
            job = self.store.find_by_idem_key(inv.idem_key) if inv.idem_key else None
            self.record_for(inv, what, OK, f"job {job.id}" if job is not None else "")
        return reply

    def answer(self, cmd: m.Audit, now: datetime) -> Reply:
        """`/cfy audit [--user U] [--since …]`: the newest entries, for the caller only."""
        since = parse_since(cmd.since, now) if cmd.since else None
        entries = self.query(user=cmd.user, since=since, limit=SHOWN + 1)
        return Reply(audit_message(entries, user=cmd.user, since=cmd.since, shown=SHOWN),
                     ephemeral=True)
