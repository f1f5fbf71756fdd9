"""`python -m bot.standin --port 3001`: the local Slack stand-in alone."""
from bot.standin.slack import main

raise SystemExit(main())
