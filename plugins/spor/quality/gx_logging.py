"""Keep Great Expectations' import-time chatter out of task logs.

Importing GX 1.x logs one INFO line per public-API function it cannot register ("Skipping
registering function … because it is a closure"), about 214 lines, plus one per metric it declares
twice. In a quality-gate task log that was ~214 of ~230 lines, burying the gate's own counts.
Raising those two loggers to WARNING keeps their real problems (the registry's exceptions are
logged at ERROR) and nothing else of GX is touched. Setting a level imports nothing.
"""

from __future__ import annotations

import logging

#: GX loggers that speak at INFO only while GX is being imported.
IMPORT_CHATTER = ("great_expectations._docs_decorators", "great_expectations.expectations.registry")


def quiet_gx_import_logs() -> None:
    for name in IMPORT_CHATTER:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:  # a site that set its own level keeps it
            logger.setLevel(logging.WARNING)
