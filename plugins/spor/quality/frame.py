"""The gate's input frame: one row per treatment, source-contract columns plus derived columns.

GX cannot compare text times, look inside child lists or count fields across columns, so
``prepare_frame`` adds vectorised derived columns (prefix ``q_``) that the suites refer to. Each
derivation is named in the suite's ``meta.derived`` so a reader sees where a column comes from.
pandas is imported inside the functions: ``import spor.quality`` stays cheap (DAG parse time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd

#: Wall-clock time columns of spor_behandling ('YYYY-MM-DD HH:MM:SS', Europe/Stockholm, no offset).
TIME_COLUMNS: tuple[str, ...] = (
    "v310", "v410", "v415", "v420", "v425", "v430", "v435",
    "v540", "v565", "v567", "v570", "v585", "v800",
)
#: Code columns compared as text against code lists (an OPS may hand them over as numbers).
CODE_COLUMNS: tuple[str, ...] = ("akut_prioritet", "v335", "v440", "v445", "asa", "v690", "v810")
#: Yes/no columns (1/0 in the source contract).
FLAG_COLUMNS: tuple[str, ...] = ("akut", "v450")
#: Child lists holding KVÅ codes (spor_operationskod by typ, spor_anestesiatgard).
KVA_LIST_COLUMNS: tuple[str, ...] = ("preliminar_operationskod", "operationskod", "anestesiatgard")
#: Child lists that make a treatment sendable at all (D11): a preliminary or a performed code.
OPCODE_LIST_COLUMNS: tuple[str, ...] = ("preliminar_operationskod", "operationskod")
CANCELLATION_COLUMNS: tuple[str, ...] = ("v440", "v445", "v450")

ID_COLUMN = "behandlingsnummer"
#: Recipient Message Split (V105) the builder sends unless configured otherwise (R20).
DEFAULT_RECIPIENT = "SPOR"


class TreatmentLike(Protocol):
    """What ``spor.extract.source.Treatment`` offers: the spor_behandling row and its child code lists.
    Read-only, so frozen hand-over records fit too."""

    @property
    def behandlingsnummer(self) -> str: ...
    @property
    def row(self) -> Mapping[str, Any]: ...
    @property
    def children(self) -> Mapping[str, Sequence[str]]: ...


def normalise_kva(code: str) -> str:
    """Upper-case and strip a KVÅ code, as the message builder does before sending (docs/notes.md#kva-pattern-w)."""
    return str(code).strip().upper()


def frame_from_treatments(treatments: Iterable[TreatmentLike]) -> pd.DataFrame:
    """One row per treatment: the row's columns plus each child list as a list-valued column."""
    import pandas as pd

    records: list[dict[str, Any]] = []
    child_keys: set[str] = set(KVA_LIST_COLUMNS)
    for t in treatments:
        rec = dict(t.row)
        rec[ID_COLUMN] = str(t.behandlingsnummer)
        for key, codes in (t.children or {}).items():
            rec[key] = list(codes or [])
            child_keys.add(key)
        records.append(rec)
    frame = pd.DataFrame.from_records(records)
    for key in child_keys:  # a treatment without a child list has an empty list, not NaN
        if key not in frame.columns:
            frame[key] = [[] for _ in range(len(frame))]
        else:
            frame[key] = [v if isinstance(v, list) else [] for v in frame[key]]
    if ID_COLUMN not in frame.columns:
        frame[ID_COLUMN] = pd.Series([], dtype="str")
    return frame


def _as_code_text(series: pd.Series) -> pd.Series:
    """Codes as text without a float artefact: 7 and 7.0 both become '7'; missing stays missing."""
    import pandas as pd

    if pd.api.types.is_float_dtype(series):
        whole = series.dropna()
        if (whole == whole.round()).all():
            series = series.astype("Int64")
    text = series.astype("string").str.strip()
    return _none_for_missing(text.where(text != "", None))


def _none_for_missing(series: pd.Series) -> pd.Series:
    """Object column with None for every missing value (pd.NA has no truth value)."""
    obj = series.astype("object")
    return obj.where(series.notna(), None)


def _as_flag(series: pd.Series) -> pd.Series:
    """1/0 flags; booleans become 1/0, anything else is kept so the code-list check can see it."""
    import pandas as pd

    def conv(v: Any) -> Any:
        if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
            return None
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, (int, float)) and float(v) in (0.0, 1.0):
            return int(v)
        if isinstance(v, str) and v.strip() in ("0", "1"):
            return int(v.strip())
        return "other"
    return series.map(conv).astype("object")


def parse_times(series: pd.Series) -> pd.Series:
    """Wall-clock strings (or datetimes) to naive datetime64; unparseable values become NaT."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        if getattr(series.dt, "tz", None) is not None:  # a real instant: its Stockholm wall clock
            return series.dt.tz_convert("Europe/Stockholm").dt.tz_localize(None)
        return series
    fmt = "%Y-%m-%d %H:%M:%S"
    parsed = pd.to_datetime(series, format=fmt, errors="coerce")
    retry = series.notna() & parsed.isna()
    if retry.any():  # the few others: padded, or with 'T' (what spor.registration.localtime also accepts)
        text = series[retry].astype("string").str.strip().str.replace("T", " ", n=1, regex=False)
        parsed[retry] = pd.to_datetime(text, format=fmt, errors="coerce")
    return parsed


def wall_clock_to_utc(naive: pd.Series, *, second_occurrence: bool = False) -> pd.Series:
    """Stockholm wall-clock -> naive UTC instants, by the builder's rule (ADR 0001, spor.registration.localtime):
    a spring-gap time is read with the offset before the gap, a repeated autumn hour is its first
    occurrence (its second with ``second_occurrence``). Comparing these instants compares what
    SPOR receives."""
    import numpy as np
    import pandas as pd

    local = naive.dt.tz_localize(
        "Europe/Stockholm",
        ambiguous=np.full(len(naive), not second_occurrence, dtype=bool),
        nonexistent=pd.Timedelta(hours=1),
    )
    return local.dt.tz_convert("UTC").dt.tz_localize(None)


def times_to_utc(frame: pd.DataFrame, elective: pd.Series) -> pd.DataFrame:
    """Every time column as naive UTC instants, as the builder sends them (ADR 0001): the first
    occurrence of a repeated-hour time, unless the repeated-hour order rule
    (``spor.registration.time_order.second_occurrences``, the builder's own function) reads it as the second.
    Vectorised; only the rare rows holding a repeated-hour time go through the rule row by row."""
    import numpy as np
    import pandas as pd

    from spor.registration.time_order import TIME_COLUMNS_IN_ORDER, second_occurrences

    first: dict[str, pd.Series] = {}
    second: dict[str, pd.Series] = {}
    for col in TIME_COLUMNS:
        raw = frame[col] if col in frame.columns else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
        if pd.api.types.is_datetime64_any_dtype(raw) and getattr(raw.dt, "tz", None) is not None:
            first[col] = raw.dt.tz_convert("UTC").dt.tz_localize(None)  # real instants: never ambiguous
            second[col] = first[col]
            continue
        wall = parse_times(raw)
        first[col], second[col] = wall_clock_to_utc(wall), wall_clock_to_utc(wall, second_occurrence=True)
    out = pd.DataFrame(first, index=frame.index)
    repeated = {c: ((second[c] != first[c]) & first[c].notna()).to_numpy() for c in TIME_COLUMNS}
    any_repeated = np.logical_or.reduce([repeated[c] for c in TIME_COLUMNS])
    for pos in np.flatnonzero(any_repeated):  # positions: the caller's index need not be unique
        readings = {c: (first[c].iat[pos].to_pydatetime(), second[c].iat[pos].to_pydatetime() if repeated[c][pos] else None)
                    for c in TIME_COLUMNS_IN_ORDER if pd.notna(first[c].iat[pos])}
        for col in second_occurrences(readings, elective=bool(elective.iat[pos])):
            out.iat[pos, out.columns.get_loc(col)] = second[col].iat[pos]
    return out


def level2_reason(series: pd.Series) -> pd.Series:
    """A local level-3 cancellation reason (e.g. '1ai') becomes its level-2 parent ('1a'), as the
    builder sends it (D13, codelists.json storningsorsak.level3_pattern)."""
    from spor.quality.codelist_suite import load_codelists

    level3 = load_codelists()["storningsorsak"]["level3_pattern"]
    text = series.astype("string")
    is_level3 = text.str.match(level3, na=False)
    parent = text.str.extract(r"^((?:1[01]|[1-9])[a-zA-Z])", expand=False)
    return _none_for_missing(series.where(~is_level3, parent))


def missing_child_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in KVA_LIST_COLUMNS if c not in frame.columns]


def prepare_frame(frame: pd.DataFrame, *, recipient: str = DEFAULT_RECIPIENT) -> pd.DataFrame:
    """A copy of ``frame`` with typed columns and the derived ``q_`` columns the suites use.

    Raises ValueError when the child-list columns are missing: without them every treatment would
    look like it had no operation code (D11), so we refuse rather than quarantine everything.
    """
    import pandas as pd

    missing = missing_child_columns(frame)
    if missing:
        raise ValueError(f"gate input lacks child-list columns {missing}: use frame_from_treatments")
    out = frame.copy()
    out[ID_COLUMN] = _none_for_missing(out[ID_COLUMN].astype("string"))
    for col in FLAG_COLUMNS:
        out[col] = _as_flag(out[col]) if col in out.columns else None
    instants = times_to_utc(out, elective=out["akut"] != 1)
    for col in TIME_COLUMNS:
        out[col] = instants[col]
    for col in CODE_COLUMNS:
        out[col] = _as_code_text(out[col]) if col in out.columns else None
    out["v445"] = level2_reason(out["v445"])
    if "personnummer" in out.columns:
        out["personnummer"] = _as_code_text(out["personnummer"])
    if "operator_hsaid" in out.columns:
        hsa = out["operator_hsaid"].astype("string")
        out["operator_hsaid"] = _none_for_missing(hsa.where(hsa != "", None))

    # D2 does not apply to acute operations: request time may follow start (spor-domain D2).
    out["q_v310_elektiv"] = out["v310"].where(out["akut"] != 1)
    # All KVÅ codes of the treatment, normalised like the builder, space-separated (D17).
    kva_lists = [out[c] for c in KVA_LIST_COLUMNS]
    out["q_kva_koder"] = [
        " ".join(normalise_kva(code) for codes in row for code in codes) or None
        for row in zip(*kva_lists)
    ]
    has_code = pd.Series(False, index=out.index)
    for c in OPCODE_LIST_COLUMNS:
        has_code |= out[c].map(len).astype(bool)
    present = pd.DataFrame({c: (out[c].notna() if c in out.columns else False) for c in CANCELLATION_COLUMNS})
    out["q_strykning_antal"] = present.sum(axis=1).astype("int64")
    is_cancellation = out["q_strykning_antal"] > 0
    # D11: a code is needed to send at all; a cancellation gets ZXF99 from the builder (D10).
    out["q_opkod_eller_strykning"] = (has_code | is_cancellation).astype("bool")
    out["q_planering"] = planning_level(out)
    if "v105" not in out.columns:
        out["v105"] = recipient
    return out


def planning_level(prepared: pd.DataFrame) -> pd.Series:
    """R9 per row: ``minimum`` (a start V415/V420 and an end V425/V430, the builder's own columns),
    ``under-minimum`` (some planning variable recorded, but no start or no end: SPOR counts the
    operation as requested only) or None (no planning recorded: a request)."""
    import pandas as pd

    from spor.registration.reading import PLANNING_END, PLANNING_START, planning_columns

    def recorded(columns: tuple[str, ...]) -> pd.Series:
        present = [prepared[c].notna() for c in columns if c in prepared.columns]
        return pd.concat(present, axis=1).any(axis=1) if present else pd.Series(False, index=prepared.index)

    has_planning = recorded(planning_columns())
    level = pd.Series(None, index=prepared.index, dtype="object")
    level[has_planning] = "under-minimum"
    level[has_planning & recorded(PLANNING_START) & recorded(PLANNING_END)] = "minimum"
    return level

