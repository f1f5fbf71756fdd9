"""Every function that reads user or manager text, on 100 kB adversarial inputs: ms per input.

    .venv/bin/python bench/bench_adversarial_input.py [--size 100000] [--repeat 5]

What is measured: wall time (median of `--repeat`) of each function below on each input, every
input `--size` characters long, built to make a backtracking regex or a per-character loop work
hard: dashes, non-breaking spaces, `<` runs, `&lt;` runs, unclosed `<http:` links, `|` chains,
nested backticks, deep quotes, long words (a URL scheme that never comes), repeated
"Execution " (the manager-log patterns), `*`/`_`/`:` runs (the terminal's mrkdwn patterns).

Functions (columns):
  normalize  bot.commands.parser.normalize (Slack's rewriting undone: links, entities, quotes,
             spaces, dashes), on the whole input
  tokenize*  normalize + shlex on the input's first 2,000 characters: tokenize and parse refuse
             anything longer before any work (shlex reads a character at a time, ~2 ms per
             2,000); `parse` is that refusal on the whole input
  guard      handlers.guard.check_shape on the form-encoded slash command
  escape, to_mrkdwn, to_plain, cut, for_slack (a message whose text and section are the input)
             bot.messages.text: what every message goes through at the Slack edge
  scrub      bot.cloudify.errors.scrub_urls (every manager error message)
  error      bot.cloudify.errors.error_from_response (a 4xx JSON body whose message is the input)
  display    bot.messages.jobs.display_url; mentions = with_mentions (stored texts -> mentions)
  logs       the manager-log patterns (report.OVERDUE_RE, scheduled_work.ORIGINAL_FAILED_RE)
  terminal   snapbot.terminal.to_terminal (mrkdwn -> terminal text)

Then, for comparison at `--old-size` characters (they are quadratic: 100 kB takes minutes), the
patterns used before: the parser's old link pattern and the manager-error URL pattern with an
unbounded scheme, and the old dash pattern at full size. The issue's target: each input under
50 ms. Figures are printed, not asserted (tests check results and the patterns' shape instead).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from bot.cloudify.errors import error_from_response, scrub_urls
from bot.commands.parser import MAX_TEXT, normalize, parse, tokenize
from bot.errors import SnapbotError
from bot.jobs.restore.report import OVERDUE_RE
from bot.jobs.scheduled_work import ORIGINAL_FAILED_RE
from bot.messages.jobs import display_url, with_mentions
from bot.messages.text import SECTION_TEXT_MAX, cut, escape, for_slack, to_mrkdwn, to_plain
from handlers.guard import Refused, check_shape
from snapbot.terminal import to_terminal

OLD_LINK = re.compile(r"<((?:https?|ftp|mailto):[^|>\s]*)(?:\|([^>]*))?>")
OLD_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
OLD_DASH = re.compile(r"(^| )[\u2014\u2013\u2212](?=[A-Za-z])")


def inputs(size: int) -> dict[str, str]:
    def rep(unit: str, head: str = "") -> str:
        return (head + unit * (size // len(unit) + 1))[:size]
    return {
        "em dashes before words": rep("\u2014a "),
        "dashes and nbsp": rep("\u2014a \u00a0"),
        "nbsp only": rep("\u00a0"),
        "'<' run": rep("<"),
        "'&lt;' run": rep("&lt;"),
        "'&amp;lt;' run": rep("&amp;lt;"),
        "unclosed '<http:' * n": rep("<http:"),
        "link then '|' chain": rep("|", "<http://a|"),
        "'<https://x|&lt;' * n": rep("<https://x|&lt;"),
        "nested backticks": rep("`", "```") [:size // 2] + rep("``` ` ``")[:size - size // 2],
        "deep quotes": rep("\u201c\u2018\"'> "),
        "unbalanced quote": rep("a", 'snapshots create "'),
        "one long word": rep("a"),
        "'a://' * n": rep("a://"),
        "'Execution ' * n": rep("Execution "),
        "'*' / '_' / ':' runs": rep("*a_:"),
        "'<@U1' * n": rep("<@U1"),
    }


def error_body(text: str) -> Any:
    return error_from_response(400, json.dumps({"message": text, "error_code": "x"}).encode(),
                               "GET", "/api/v3.1/snapshots")


FUNCTIONS: dict[str, Callable[[str], Any]] = {
    "normalize": normalize,
    "tokenize*": lambda t: tokenize(t[:MAX_TEXT]),
    "parse": parse,
    "guard": lambda t: check_shape(urlencode({"command": "/cfy", "text": t}).encode()),
    "escape": escape,
    "to_mrkdwn": to_mrkdwn,
    "to_plain": to_plain,
    "cut": lambda t: cut(escape(t), SECTION_TEXT_MAX),
    "for_slack": lambda t: for_slack({"text": t, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": t}}]}),
    "scrub": scrub_urls,
    "error": error_body,
    "display": display_url,
    "mentions": lambda t: with_mentions(t, ["U1", "U_OPS", "W2"]),
    "logs": lambda t: (OVERDUE_RE.search(t), ORIGINAL_FAILED_RE.search(t)),
    "terminal": to_terminal,
}


def timed(fn: Callable[[str], Any], text: str, repeat: int) -> float:
    """Median ms of `repeat` calls (one call when the first takes over a second)."""
    runs: list[float] = []
    for _ in range(repeat):
        if runs and runs[0] > 1.0:
            break
        started = time.perf_counter()
        try:
            fn(text)
        except (SnapbotError, Refused):
            pass
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--old-size", type=int, default=10_000,
                    help="input size for the old quadratic patterns (100 kB takes minutes)")
    args = ap.parse_args()
    names = list(FUNCTIONS)
    print(f"ms per call, median of {args.repeat}, inputs of {args.size:,} characters")
    print(f"{'input':26}" + "".join(f"{n:>10}" for n in names))
    worst = (0.0, "", "")
    for label, text in inputs(args.size).items():
        row = []
        for name in names:
            ms = timed(FUNCTIONS[name], text, args.repeat)
            row.append(ms)
            if ms > worst[0]:
                worst = (ms, name, label)
        print(f"{label:26}" + "".join(f"{ms:10.2f}" for ms in row))
    deep = ("payload=" + "[" * 200_000 + "]" * 200_000).encode()
    print(f"{'200k-deep JSON payload':26}{'':30}"
          f"{timed(lambda _: check_shape(deep), '', args.repeat):10.2f}  (guard)")
    print(f"worst: {worst[0]:.2f} ms ({worst[1]} on {worst[2]!r}); target < 50 ms per input")

    texts = inputs(args.size)
    links = texts["unclosed '<http:' * n"][:args.old_size]
    word = texts["one long word"][:args.old_size]
    spaced = " ".join(texts["dashes and nbsp"].split())
    old_link = timed(lambda t: OLD_LINK.sub("", t), links, 1)
    old_scheme = timed(lambda t: OLD_SCHEME.sub("", t), word, 1)
    old_dash = timed(lambda t: OLD_DASH.sub(r"\1--", t), spaced, args.repeat)
    print("\nbefore (the patterns replaced), ms per call:")
    print(f"  parser link, `[^|>\\s]*`, unclosed '<http:' * n, {args.old_size:,} chars: {old_link:10.1f}")
    print(f"  manager-error URL, unbounded scheme, one long word, {args.old_size:,} chars: {old_scheme:10.1f}")
    print(f"  parser dash, `(^| )` + template, dashes and nbsp, {args.size:,} chars:   {old_dash:10.1f}")


if __name__ == "__main__":
    main()
