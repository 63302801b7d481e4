"""``python -m standin ...``: start the stand-in SPOR service (see server.py)."""

from standin.server import main

raise SystemExit(main())
