"""snapbot's entry point: start here.

    snapbot/main.py      the `snapbot` command: ONE argument parser for run | demo | cfy | daily |
                         simulator, and what each subcommand runs
    snapbot/run.py       `snapbot run`: settings -> domain services (bot.bootstrap) -> the Slack app
                         (handlers.app) -> wait for SIGTERM
    snapbot/terminal.py  `snapbot cfy` and `snapbot daily --once`: the same services without Slack,
                         results rendered for a terminal

The layers (tests/test_layers.py holds them): `bot/` is the domain and imports none of `handlers/`,
`devtools/`, `snapbot/` or a Slack library; `handlers/` is the Slack app; `devtools/` (simulator,
Slack stand-in, demo) is imported by no product module: only `snapbot demo` and `snapbot simulator`
import it, lazily, inside their subcommand.
"""
