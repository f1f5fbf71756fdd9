"""`python -m devtools.standin --port 3001`: the local Slack stand-in alone."""
from devtools.standin.slack import main

raise SystemExit(main())
