"""``python -m vpa_config`` runs the command-line tool."""

from vpa_config.cli import main

raise SystemExit(main())
