"""``python -m simulators``: the same as the ``ladda-sim`` command."""

from .cli import main

raise SystemExit(main())
