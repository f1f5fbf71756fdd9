from bot.simulator.cli import main

raise SystemExit(main())
