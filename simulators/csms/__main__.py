"""``python -m simulators.csms``: same as ``ladda-sim csms``."""

from simulators.csms.cli import main

raise SystemExit(main())
