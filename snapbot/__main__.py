"""`python -m snapbot …` is the `snapbot` console script."""
from snapbot.main import main

raise SystemExit(main())
