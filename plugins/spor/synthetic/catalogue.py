"""What a synthetic OPS data set is made of: units, scenarios, features, block reasons, and the
codes and shares the generator draws from.

Scenarios are the shapes of a treatment's registration (a request alone, planned, cancelled,
performed); features are legal but special data the pipeline must handle (a samordningsnummer,
a time in a DST night); block reasons are the opt-out kinds. The defects, and what the builder
must make of each, are in ``spor.synthetic.defects``. Changing a share or a code list changes
every data set generated from a seed.
"""

from __future__ import annotations

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # Stockholm wall-clock, as the source contract holds it

DEFAULT_UNITS: dict[str, str] = {
    "OP-A": "SE2321000016-OPA1",
    "OP-B": "SE2321000016-OPB1",
    "OP-C": "SE2321000016-OPC1",
}
UNMAPPED_UNITS = ("OP-X",)

SCENARIOS = (
    "request-only",          # only the anmälan (R7)
    "planned",               # anmälan + planering with minimum planning (R9)
    "planned-below-minimum", # planering without an end time: counts as request only (R9)
    "cancelled-unplanned",   # strykning of a never-planned request (R8)
    "cancelled-planned",     # strykning of a planned operation (R10)
    "performed",             # genomförande, patient did not go to postop
    "performed-postop",      # genomförande + postop
)
FEATURES = (
    "samordningsnummer",     # valid samordningsnummer (day + 60)
    "dst-spring",            # times in/around the spring gap night
    "dst-autumn",            # times in/around the repeated autumn hour
    "level3-reason",         # local level-3 cancellation reason: sent as its level-2 parent (D13)
    "no-prelim-code-zxf99",  # cancellation without operation code: builder adds ZXF99 (D10)
)
BLOCK_REASONS = ("sparrlista-patient", "sparrlista-treatment", "deltar-ej")

# Share of n per special kind (exact counts: round(n * share)).
BLOCK_SHARE = {"sparrlista-patient": 0.010, "sparrlista-treatment": 0.006, "deltar-ej": 0.008}
FEATURE_SHARE = {"samordningsnummer": 0.04, "dst-spring": 0.003, "dst-autumn": 0.003, "level3-reason": 0.005}
SCENARIO_WEIGHTS = {
    "request-only": 15, "planned": 20, "planned-below-minimum": 3, "cancelled-unplanned": 6,
    "cancelled-planned": 6, "performed": 15, "performed-postop": 35,
}
# Which scenarios a defect/feature can live in.
PERFORMED = ("performed", "performed-postop")
CANCELLED = ("cancelled-unplanned", "cancelled-planned")
NEEDS = {
    "D1": PERFORMED, "D2": PERFORMED, "D3": PERFORMED, "D5": CANCELLED, "D13": CANCELLED,
    "level3-reason": CANCELLED, "D11": ("request-only", "planned", "performed-postop"),
    "dst-spring": ("performed-postop",), "dst-autumn": ("performed-postop",),
}

KVA_CODES = ("JAB30", "JEA00", "JKA21", "NFB49", "NGB49", "NFJ59", "CJE20", "KAS00", "LCD11", "PAH10", "JDF10", "QDB99")
BAD_KVA_CODES = ("H-CAR", "J4B30", "AB1234", "1AB23", "HCAR")
ANESTESI_CODES = ("ZXA10", "ZXB10", "ZXC10", "ZXD10", "ZXK15")
ICD_CODES = ("K35.8", "K80.2", "M17.1", "S72.0", "C18.7", "N20.0", "K40.9", "M16.1", "H25.9", "O82.9")
KOMPLIKATION_CODES = ("OP3.1", "OP7.2", "UVA2.4", "UVA5.1")
CANCEL_CODES = (("1", "1a"), ("4", "4d"), ("7", "7a"), ("8", "8B"), ("11", "11C"))
