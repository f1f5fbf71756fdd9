"""`python -m devtools.simulator …` is `snapbot simulator …` (the one `snapbot` parser)."""
import sys

from snapbot.main import main

raise SystemExit(main(["simulator", *sys.argv[1:]]))
