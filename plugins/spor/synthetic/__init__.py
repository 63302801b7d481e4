"""Deterministic synthetic OPS data in the source contract, with a manifest of what is in it.

``generate(target, n=3000, seed=1, start=date(2025, 11, 1), days=30) -> Manifest`` fills the
contract (sql/contract/*.sql, applied if missing) in SQLite or PostgreSQL. The same arguments
always give the same rows and the same manifest. CLI:
``python -m spor synth --db URL --n N --seed S [--start YYYY-MM-DD] [--days D] [--manifest PATH]``.

Identity numbers are generated (valid dates, Luhn, samordningsnummer day + 60); they belong to
nobody. Reservnummer follow Region Stockholm's shape ``99yyyyNNNNNC``.

Manifest format (JSON, ``format: "spor-synthetic-manifest/1"``; never holds an identity number)::

    {"format": "spor-synthetic-manifest/1", "seed": 1, "n": 5000, "start": "2025-11-01", "days": 30,
     "units": {"OP-A": "SE2321000016-OPA1", ...},      # the unit -> SystemId mapping to use
     "unmapped_units": ["OP-X"],                          # deliberately missing from "units"
     "treatments": {
       "<behandlingsnummer>": {
         "scenario": "performed-postop",   # see SCENARIOS
         "akut": true, "enhet": "OP-A",
         "andrad_tid": "2025-11-03 14:05:00",              # last-changed, Stockholm wall-clock
         "features": ["samordningsnummer", "dst-spring"],  # see FEATURES: legal but special
         "defects": ["D1"],                                 # see DEFECTS: rule ids of bad data
         "blocked": null,                  # or "sparrlista-patient" | "sparrlista-treatment" | "deltar-ej"
         "buildable": true,                # would the builder produce a message (ignoring blocks)?
         "expected": null                  # not buildable: {"state": "not_buildable"|"identity_unknown",
       }                                   #                  "rule": "D17", "variable": "operationskod"}
     },
     "counts": {"scenario": {...}, "defect": {...}, "blocked": {...}, "feature": {...},
                "rendered": N}}           # rendered = buildable and not blocked

Defects D1, D2, D3 are rules SPOR applies after accepting a message: such treatments are
buildable (the quality gate reports them). A blocked treatment may still carry a defect: it must
be neither built nor reported.

The work is split by job: ``catalogue`` (what a data set is made of), ``planner`` (who is who,
from the seed), ``identities``, ``rows`` and ``times`` (the values of one treatment), ``defects``
(what is wrong on purpose, and what must become of it), ``manifest``, ``fill`` (writing to the
database) and ``cli`` (``python -m spor synth``).
"""

from spor.synthetic.catalogue import BLOCK_REASONS, DEFAULT_UNITS, FEATURES, SCENARIOS, UNMAPPED_UNITS
from spor.synthetic.defects import DEFECTS, EXPECTED
from spor.synthetic.fill import generate
from spor.synthetic.manifest import Manifest, ManifestEntry

__all__ = [
    "DEFAULT_UNITS",
    "UNMAPPED_UNITS",
    "SCENARIOS",
    "DEFECTS",
    "FEATURES",
    "BLOCK_REASONS",
    "EXPECTED",
    "Manifest",
    "ManifestEntry",
    "generate",
]
