"""Log set-up for the entry points: plain text or one JSON object per line
(`SNAPBOT_LOG_FORMAT=json`), secrets masked, httpx's per-request lines at DEBUG, every line one
line (control characters escaped) and bounded.

What a request says (a user id, a button's value, a command's text) goes into a log line through
`field`: escaped to one line and cut to `MAX_FIELD` characters, so a signed request cannot forge
a line or grow the log. `OneLine`, installed by `configure`, is the net under that for every
other line (a traceback stays as it is: it is the code's, not the sender's)."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

#: characters of one request field in a log line; of a whole line (the net under it)
MAX_FIELD = 200
MAX_LINE = 8000
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}" if ord(char) < 256
                                                         else f"\\u{ord(char):04x}")


def one_line(text: str, limit: int) -> str:
    """`text` with control characters escaped (`\\n`), cut to `limit` characters of the
    original with the number left out said."""
    if len(text) > limit:
        text = f"{text[:limit]}…(+{len(text) - limit:,} chars)"
    return _CONTROL.sub(_escape, text)


def field(value: object, limit: int = MAX_FIELD) -> str:
    """A value a request carried, fit for a log line: one line, at most `limit` characters."""
    return one_line(value if isinstance(value, str) else str(value), limit)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: libraries that log every HTTP request at INFO (696 lines in 14 minutes against one manager)
CHATTY = ("httpx", "httpcore")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, UTC)
               .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False)


class Redact(logging.Filter):
    """Replaces known secret values (tokens, passwords) wherever they would appear in a line.
    The code never logs them on purpose; this is the belt to those braces."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        text = record.getMessage()
        masked = text
        for s in self.secrets:
            masked = masked.replace(s, "***")
        if masked != text:
            record.msg, record.args = masked, None
        return True


class OneLine(logging.Filter):
    """Every message one line of at most `MAX_LINE` characters (see the module doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if len(text) > MAX_LINE or _CONTROL.search(text):
            record.msg, record.args = one_line(text, MAX_LINE), None
        return True


class Demote(logging.Filter):
    """INFO lines of a chatty library become DEBUG (and are dropped unless DEBUG is on)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.level <= logging.DEBUG
        return True


def configure(level: str | int = "INFO", fmt: str = "text", *, secrets: Iterable[str] = (),
              stream: TextIO | None = None) -> logging.Handler:
    """(Re)configure the root logger; returns the handler installed."""
    if isinstance(level, str):
        level = getattr(logging, level.upper(), logging.INFO)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Redact(secrets))
    handler.addFilter(OneLine())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in CHATTY:
        lg = logging.getLogger(name)
        for f in [f for f in lg.filters if isinstance(f, Demote)]:
            lg.removeFilter(f)
        lg.addFilter(Demote(level))
    return handler
