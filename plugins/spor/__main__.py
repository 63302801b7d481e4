"""``python -m spor <command>`` (with plugins/ on PYTHONPATH): see spor.cli.main."""

import sys

from spor.cli.main import main

sys.exit(main())
