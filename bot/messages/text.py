"""Text that reaches Slack: one escape function, mentions only from user ids, Slack's limits.

Message builders write plain text. Everything in it, snapbot's templates and whatever they
interpolate (manager errors, ids, URLs, user text, names), is escaped once, at the Slack edge,
by `for_slack(message)`: `&`, `<` and `>` become entities, so nothing anyone else wrote can
become a mention (`<!channel>`, `<@U…>`) or a link (`<url|label>`). The only markup that
survives is what `mention`, `group_mention` and `link` made: they wrap it in two private-use
characters that the edge turns into `<` and `>` after escaping, and only when the wrapped text
has the one shape they produce. Text from outside snapbot is stripped of those two characters
where it enters (`strip_markers`: the command parser, the manager client).

`for_slack` also cuts every text object to Slack's limits (3,000 characters for a section or a
context element, 150 for a header, …) with a visible "…", after escaping (entities count).
"""
from __future__ import annotations

import re
from typing import Any

OPEN = "\ue000"
CLOSE = "\ue001"
ELLIPSIS = "…"

#: Slack's limits per text object (characters)
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
MESSAGE_TEXT_MAX = 3000  # the notification text; Slack allows more, nobody reads more

_USER_ID = re.compile(r"[UW][A-Z0-9_]{1,40}")
_GROUP_ID = re.compile(r"S[A-Z0-9_]{1,40}")
_URL = re.compile(r"https?://[^\s<>|\ue000\ue001]{1,2000}")
#: a wrapped span: bounded, no nesting, so matching is linear
_SPAN = re.compile("\ue000([^\ue000\ue001]{1,2400})\ue001")
_MENTION_BODY = re.compile(r"@[UW][A-Z0-9_]{1,40}|!subteam\^S[A-Z0-9_]{1,40}|#[CG][A-Z0-9_]{1,40}")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9_]{1,40}")
_LINK_BODY = re.compile(r"(https?://[^\s<>|]{1,2000})\|([^<>|]{1,300})")


def escape(text: Any) -> str:
    """Slack's three entities: `&` -> `&amp;`, `<` -> `&lt;`, `>` -> `&gt;`."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def strip_markers(text: str) -> str:
    """Text from outside snapbot without the two characters that wrap snapbot's own markup."""
    if OPEN in text or CLOSE in text:
        return text.replace(OPEN, "").replace(CLOSE, "")
    return text


def mention(user: str) -> str:
    """A mention of a Slack user, made from its id; anything else (a terminal login such as
    `local:alice`) is plain text."""
    user = str(user or "")
    if _USER_ID.fullmatch(user):
        return f"{OPEN}@{user}{CLOSE}"
    return strip_markers(user) or "someone"


def group_mention(group: str) -> str:
    if _GROUP_ID.fullmatch(group or ""):
        return f"{OPEN}!subteam^{group}{CLOSE}"
    return strip_markers(group or "")


def channel_mention(channel: str) -> str:
    if _CHANNEL_ID.fullmatch(channel or ""):
        return f"{OPEN}#{channel}{CLOSE}"
    return strip_markers(channel or "")


def link(url: str, label: str) -> str:
    """A link made by snapbot (http/https only); otherwise the label and the URL as text."""
    label = strip_markers(str(label)).replace("|", "/").replace("<", "").replace(">", "")[:300]
    if _URL.fullmatch(url or ""):
        return f"{OPEN}{url}|{label}{CLOSE}"
    return f"{label} ({strip_markers(str(url))})"


def _span(mo: re.Match[str]) -> str:
    body = mo.group(1)  # already escaped
    if _MENTION_BODY.fullmatch(body):
        return f"<{body}>"
    lk = _LINK_BODY.fullmatch(body)
    if lk:
        return f"<{lk.group(1)}|{lk.group(2)}>"
    return body


def to_mrkdwn(text: Any) -> str:
    """Escape everything, then turn snapbot's own wrapped spans into Slack markup."""
    escaped = escape(text)
    if OPEN not in escaped:
        return escaped.replace(CLOSE, "")
    return strip_markers(_SPAN.sub(_span, escaped))


def _plain_span(mo: re.Match[str]) -> str:
    body = mo.group(1)
    if _MENTION_BODY.fullmatch(body):
        return body if body[0] in "@#" else "@" + body.split("^", 1)[-1]
    lk = _LINK_BODY.fullmatch(body)
    if lk:
        return f"{lk.group(2)} ({lk.group(1)})"
    return body


def to_plain(text: Any) -> str:
    """For plain_text objects and terminals: snapbot's spans as `@U…` / `label (url)`."""
    plain = str(text)
    if OPEN not in plain:
        return plain.replace(CLOSE, "")
    return strip_markers(_SPAN.sub(_plain_span, plain))


def unwrap(text: Any) -> str:
    """snapbot's spans as raw Slack markup, nothing escaped: for reading a message in tests and
    logs (`<@U1>`), never for sending it."""
    raw = str(text)
    if OPEN not in raw:
        return raw.replace(CLOSE, "")
    return strip_markers(_SPAN.sub(lambda mo: f"<{mo.group(1)}>", raw))


def archive_name(path: Any) -> str:
    """An archived copy as Slack shows it: relative to the archive directory
    (`<manager>/<id>.zip`), never the server's absolute path."""
    parts = [p for p in str(path or "").replace("\\", "/").split("/") if p]
    return "/".join(parts[-2:])


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending in a visible "…" when cut; never inside an entity
    (`&amp;`) or a markup span (`<@U1>`), which would break what Slack shows."""
    if len(text) <= limit:
        return text
    end = max(0, limit - len(ELLIPSIS))
    head = text[:end]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:] and end - amp <= 8:
        head = head[:amp]
    lt = head.rfind("<")
    if lt != -1 and ">" not in head[lt:]:
        head = head[:lt]
    return head + ELLIPSIS


def _mrkdwn_obj(obj: dict[str, Any], limit: int) -> dict[str, Any]:
    if obj.get("type") == "plain_text":
        return {**obj, "text": cut(to_plain(obj.get("text", "")), limit) or " "}
    return {**obj, "text": cut(to_mrkdwn(obj.get("text", "")), limit) or " "}


def _element(el: Any) -> Any:
    if not isinstance(el, dict):
        return el
    el = dict(el)
    if el.get("type") in ("mrkdwn", "plain_text"):
        return _mrkdwn_obj(el, SECTION_TEXT_MAX)
    if isinstance(el.get("text"), dict):
        limit = BUTTON_TEXT_MAX if el.get("type") == "button" else SECTION_TEXT_MAX
        el["text"] = _mrkdwn_obj(el["text"], limit)
    for key in ("confirm",):
        if isinstance(el.get(key), dict):
            el[key] = {k: (_mrkdwn_obj(v, 300) if isinstance(v, dict) and "text" in v else v)
                       for k, v in el[key].items()}
    return el


def _block(block: Any) -> Any:
    if not isinstance(block, dict):
        return block
    b = dict(block)
    kind = b.get("type")
    if isinstance(b.get("text"), dict):
        b["text"] = _mrkdwn_obj(b["text"], HEADER_MAX if kind == "header" else SECTION_TEXT_MAX)
    if isinstance(b.get("fields"), list):
        b["fields"] = [_mrkdwn_obj(f, FIELD_MAX) if isinstance(f, dict) else f for f in b["fields"]]
    if isinstance(b.get("elements"), list) and kind in ("context", "actions"):
        b["elements"] = [_element(e) for e in b["elements"]]
    if isinstance(b.get("accessory"), dict):
        b["accessory"] = _element(b["accessory"])
    return b


def for_slack(message: dict[str, Any]) -> dict[str, Any]:
    """The message as it may be sent to Slack: every text escaped (snapbot's own mentions and
    links kept) and cut to Slack's limits. Idempotent neither way: call it once, at the edge."""
    out = dict(message)
    if "text" in out and out["text"] is not None:
        out["text"] = cut(to_mrkdwn(out["text"]), MESSAGE_TEXT_MAX)
    if isinstance(out.get("blocks"), list):
        out["blocks"] = [_block(b) for b in out["blocks"]]
    return out


def for_terminal(message: dict[str, Any]) -> dict[str, Any]:
    """The message for a terminal: snapbot's spans as plain `@U…`, nothing escaped."""
    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return to_plain(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value
    return {k: walk(v) for k, v in message.items()}
