"""Text from users and managers, at 100 kB of the worst it can be: right results, linear patterns.

Timings are in bench/bench_adversarial_input.py (printed, never asserted). Here: every pattern
that reads outside text has a shape that cannot backtrack badly (checked on the patterns
themselves), and each function that reads such text gives the right answer on inputs built to
make it work hard.
"""
from __future__ import annotations

import json
import re
import re._parser as sre  # type: ignore[import-not-found]
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from bot import audit
from bot.cloudify import errors as cloudify_errors
from bot.cloudify.errors import error_from_response, scrub_urls
from bot.commands import grammar, parser
from bot.commands.parser import MAX_TEXT, normalize, parse, tokenize
from bot.errors import UsageError
from bot.jobs import scheduled_work
from bot.jobs.restore import report
from bot.messages import jobs as job_messages
from bot.messages import text as slack_text
from bot.messages.text import ELLIPSIS, SECTION_TEXT_MAX, cut, escape, for_slack, to_mrkdwn
from snapbot import terminal

SIZE = 100_000

#: modules whose patterns read text someone else wrote: typed commands, manager messages and logs
OUTSIDE_TEXT_MODULES = (parser, grammar, slack_text, cloudify_errors, report, scheduled_work,
                        job_messages, audit, terminal)

_PROBE = [chr(c) for c in range(0x3100)] + ["\ue000", "\ue001", "\ufeff", "\u202f", "\u205f"]
_CATEGORIES = {
    name: re.compile(rx) for name, rx in (
        ("CATEGORY_DIGIT", r"\d"), ("CATEGORY_NOT_DIGIT", r"\D"), ("CATEGORY_SPACE", r"\s"),
        ("CATEGORY_NOT_SPACE", r"\S"), ("CATEGORY_WORD", r"\w"), ("CATEGORY_NOT_WORD", r"\W"))
}


def _one_char(op: Any, av: Any) -> Callable[[str], bool] | None:
    """What one character-matching item of a parsed pattern accepts (None: not such an item)."""
    if op == sre.LITERAL:
        return lambda c: ord(c) == av
    if op == sre.NOT_LITERAL:
        return lambda c: ord(c) != av
    if op == sre.ANY:
        return lambda c: c != "\n"
    if op != sre.IN:
        return None
    negate = bool(av) and av[0][0] == sre.NEGATE
    tests: list[Callable[[str], bool]] = []
    for kind, value in av[1:] if negate else av:
        if kind == sre.LITERAL:
            tests.append(lambda c, v=value: ord(c) == v)
        elif kind == sre.RANGE:
            tests.append(lambda c, v=value: v[0] <= ord(c) <= v[1])
        elif kind == sre.CATEGORY:
            rx = _CATEGORIES[str(value)]
            tests.append(lambda c, rx=rx: rx.match(c) is not None)
        else:
            raise AssertionError(f"unhandled class item {kind}")
    return lambda c: any(t(c) for t in tests) != negate


def _disjoint(a: Callable[[str], bool], b: Callable[[str], bool]) -> bool:
    return not any(a(c) and b(c) for c in _PROBE)


def rescanning_repeats(pattern: re.Pattern[str]) -> list[str]:
    """Unbounded repeats that a later try could scan again: a repeat of a character class,
    followed by more pattern (so a try can fail after it), whose class includes every character
    the try had to match before it. From each character of a long run, such a pattern rescans
    the rest of the run (quadratic: `[a-z][a-z0-9]*://` on a 100 kB word). When some required
    character before the repeat is outside its class, a try that starts inside the run cannot
    get that far, so tries do not overlap."""
    found: list[str] = []

    def walk(items: list[Any], required: list[Callable[[str], bool]], tail: bool) -> None:
        items = list(items)
        for i, (op, av) in enumerate(items):
            last = tail and i == len(items) - 1
            one = _one_char(op, av)
            if one is not None:
                required.append(one)
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                lo, hi, body = av
                body = list(body)
                inner = _one_char(*body[0]) if len(body) == 1 else None
                if inner is None:
                    walk(body, list(required), False)
                elif hi == sre.MAXREPEAT and not last and \
                        not any(_disjoint(r, inner) for r in required):
                    found.append(f"{op} {body} at item {i}")
                if inner is not None and lo >= 1:
                    required.append(inner)
            elif op == sre.SUBPATTERN:
                walk(av[3], required, last)
            elif op == sre.BRANCH:
                for alt in av[1]:
                    walk(alt, list(required), last)
            # AT, ASSERT, ASSERT_NOT, GROUPREF...: zero-width or not class repeats

    walk(sre.parse(pattern.pattern, pattern.flags), [], True)
    return found


def _patterns(modules: Iterable[Any]) -> list[re.Pattern[str]]:
    return [v for mod in modules for v in vars(mod).values()
            if isinstance(v, re.Pattern) and isinstance(v.pattern, str)]


def _rep(unit: str, head: str = "", size: int = SIZE) -> str:
    return (head + unit * (size // len(unit) + 1))[:size]


# --- the patterns' shape -----------------------------------------------------------------------

def test_the_rescan_check_catches_the_quadratic_patterns_snapbot_used_to_have():
    old_scheme = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
    old_link = re.compile(r"<((?:https?|ftp|mailto):[^|>\s]*)(?:\|([^>]*))?>")
    assert len(rescanning_repeats(old_scheme)) == 1
    assert len(rescanning_repeats(old_link)) == 2
    # a repeat at the very end always succeeds once started: it never fails and rescans
    assert rescanning_repeats(re.compile(r"[a-z]+")) == []
    assert rescanning_repeats(re.compile(r"Execution (\S+) is")) == []


def test_no_pattern_on_outside_text_can_rescan_a_long_run():
    patterns = _patterns(OUTSIDE_TEXT_MODULES)
    assert len(patterns) >= 20
    for p in patterns:
        assert rescanning_repeats(p) == [], p.pattern


def test_the_manager_error_url_pattern_bounds_its_scheme():
    assert "{0,31}://" in cloudify_errors._URL_IN_TEXT.pattern


# --- right answers on 100 kB of the worst --------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (_rep("\u2014a "), " ".join(["--a"] * (SIZE // 3)) + " \u2014"),  # the last dash: no letter
    (_rep("\u00a0"), ""),
    (_rep("<"), "<" * SIZE),
    (_rep("&lt;"), "<" * (SIZE // 4)),
    (_rep("\u201c\u2018"), _rep("\"'")),
])
def test_normalize_gets_100kb_of_dashes_spaces_brackets_entities_and_quotes_right(text, expected):
    assert normalize(text) == expected


def test_a_dash_becomes_a_flag_only_at_the_start_of_a_word():
    assert normalize("\u2014all x\u2014y \u2013\u2013 \u2212v") == "--all x\u2014y \u2013\u2013 --v"


def test_tokenize_refuses_100kb_before_splitting_it():
    with pytest.raises(UsageError, match=f"at most {MAX_TEXT:,}"):
        tokenize(_rep("a ", 'snapshots create "'))
    assert tokenize('snapshots create "a b"') == ["snapshots", "create", "a b"]


def test_parse_refuses_every_100kb_input_with_the_cap():
    for text in (_rep("<http:"), _rep("|", "<http://a|"), _rep("`", "```"), _rep("\u201c> ")):
        with pytest.raises(UsageError, match=f"at most {MAX_TEXT:,}"):
            parse(text)


@pytest.mark.parametrize("text", [_rep("<"), _rep("&lt;"), _rep("<@U1"), _rep("|", "<http://a|"),
                                  _rep("<!channel>"), _rep("`", "```")])
def test_100kb_of_markup_is_escaped_and_cut_with_a_visible_ellipsis(text):
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert to_mrkdwn(text) == escaped
    out = for_slack({"text": text, "blocks": [{"type": "section",
                                               "text": {"type": "mrkdwn", "text": text}}]})
    section = out["blocks"][0]["text"]["text"]
    assert len(section) <= SECTION_TEXT_MAX and section.endswith(ELLIPSIS)
    assert "<" not in section and not re.search(r"&[a-z]*…$", section)
    assert cut(escaped, SECTION_TEXT_MAX) == section


def test_scrub_urls_on_100kb_words_without_a_url_changes_nothing():
    for text in (_rep("a"), _rep("a+b.c-"), _rep("Execution ")):
        assert scrub_urls(text) == text


def test_scrub_urls_still_scrubs_a_url_after_a_100kb_word():
    text = _rep("a") + " https://user:pw@h.example/x?sig=1"
    assert scrub_urls(text) == _rep("a") + " https://…@h.example/x?…"
    glued = "9" * 50 + "https://user:pw@h.example/x"  # a scheme glued to other text
    assert "pw" not in scrub_urls(glued) and "h.example/x" in scrub_urls(glued)


def test_a_100kb_manager_error_comes_back_as_its_message():
    message = _rep("a") + " see https://u:secret@h.example/x"
    body = json.dumps({"message": message, "error_code": "conflict_error"}).encode()
    exc = error_from_response(409, body, "GET", "/api/v3.1/snapshots")
    assert exc.status == 409 and _rep("a") + " see https://…@h.example/x" in str(exc)
    assert "secret" not in str(exc)


def test_manager_log_patterns_find_nothing_in_100kb_of_near_misses():
    text = _rep("Execution x scheduled for ")
    assert report.OVERDUE_RE.search(text) is None
    assert scheduled_work.ORIGINAL_FAILED_RE.search(_rep("Marking original execution x ")) is None
    line = text[:1000] + " Execution e1 scheduled for 2024-01-01T00:00:00Z is overdue. Marking as FAILED"
    found = report.OVERDUE_RE.search(line)
    assert found is not None and found.group("id") == "e1"


def test_with_mentions_on_100kb_of_user_ids_leaves_longer_ids_alone():
    text = _rep("U1 U12 ")
    out = job_messages.with_mentions(text, ["U1"])
    assert out.count(slack_text.mention("U1")) == text.split().count("U1")
    assert "U12" in out
