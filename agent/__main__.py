"""``python -m agent``: the same as the ``ladda`` command."""

from .cli import main

raise SystemExit(main())
