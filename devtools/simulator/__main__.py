from devtools.simulator.cli import main

raise SystemExit(main())
