"""``python -m spor <command>`` (with plugins/ on PYTHONPATH): see spor.cli."""

import sys

from spor.cli import main

sys.exit(main())
