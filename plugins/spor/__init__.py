"""OPS → SPOR integration: build, check and send registrations to the Swedish Perioperative Register.

Importing this package is cheap: heavy libraries (pandas, zeep, Great Expectations) are imported
inside the functions that need them, so DAG parsing stays fast.
"""

__version__ = "0.1.0"
