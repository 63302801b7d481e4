"""The data-quality gate: run the suites over the night's treatments, get per-row verdicts.

reject -> quarantined, not sent (SPOR would refuse: HTTP 500 or ERROR);
warn   -> sent, listed with what SPOR will do with it: by default a predicted fellista entry (SPOR
          stores it but holds it out of reports); an expectation's ``meta.consequence`` says
          otherwise (R9: "SPOR counts it as requested only").

GX runs with result_format COMPLETE, the treatment number as the unexpected-index column,
``exclude_unexpected_values`` and ``partial_unexpected_count=0`` (docs/notes.md#gx-result-format-pii): results carry treatment
numbers and counts, never the failing values (they may be personnummer).
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from spor.errors import ConfigurationError
from spor.quality.frame import DEFAULT_RECIPIENT, ID_COLUMN, prepare_frame
from spor.quality.python_checks import CHECK_META, duplicate_code_ids, identity_failures, unparseable_time_ids
from spor.quality.suites import load_gx_gate_suite

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: What SPOR does with a warned registration unless the expectation's meta.consequence says otherwise.
FELLISTA = "predicted fellista"
MISSING_ID = "(saknas)"  # a row without behandlingsnummer cannot be named otherwise
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ID_COLUMN],
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 0,
    "return_unexpected_index_query": False,
}


class QualityGateError(ConfigurationError):
    """The gate could not evaluate an expectation: nothing may pass unchecked (fail closed)."""


class Verdict(NamedTuple):
    behandlingsnummer: str
    rule: str
    severity: str        # "reject" | "warn"
    expectation_id: str  # meta.id of the expectation or Python check


@dataclass
class ExpectationOutcome:
    """One expectation's result without any value: counts, rule and severity."""

    expectation_id: str
    type: str
    rule: str
    severity: str
    description: str
    success: bool
    element_count: int
    unexpected_count: int
    missing_count: int | None = None
    columns: list[str] = field(default_factory=list)
    inferred: bool = False
    assumption: bool = False
    suite: str = ""
    consequence: str = FELLISTA  # of a warn: what SPOR does with the registration it stores


@dataclass
class GateResult:
    run_id: str | None
    ids: list[str]
    verdicts: list[Verdict]
    expectation_results: list[ExpectationOutcome]
    gx_import_seconds: float = 0.0
    validation_seconds: float = 0.0  # prepare + GX pass + Python checks (excludes the GX import)
    gx_validate_seconds: float = 0.0  # the GX pass alone

    @property
    def quarantined(self) -> set[str]:
        """Treatments with a reject verdict: not sent."""
        return {v.behandlingsnummer for v in self.verdicts if v.severity == "reject"}

    @property
    def identity_unknown(self) -> set[str]:
        """Subset of ``quarantined`` held for a reservnummer: store as State.IDENTITY_UNKNOWN."""
        return {v.behandlingsnummer for v in self.verdicts if v.rule == "identity-unknown"}

    @property
    def warned(self) -> set[str]:
        """Treatments sent with a predicted fellista entry (a warn verdict and no reject)."""
        return {v.behandlingsnummer for v in self.verdicts if v.severity == "warn"} - self.quarantined

    @property
    def passed_ids(self) -> set[str]:
        """Treatments without any verdict."""
        return set(self.ids) - {v.behandlingsnummer for v in self.verdicts}

    @property
    def sendable_ids(self) -> set[str]:
        """Everything not quarantined: passed plus warned."""
        return set(self.ids) - self.quarantined

    def verdicts_for(self, behandlingsnummer: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.behandlingsnummer == behandlingsnummer]

    def counts_by_rule(self, severity: str | None = None) -> dict[str, int]:
        """Number of distinct treatments per rule (optionally one severity)."""
        per: dict[str, set[str]] = {}
        for v in self.verdicts:
            if severity is None or v.severity == severity:
                per.setdefault(v.rule, set()).add(v.behandlingsnummer)
        return {k: len(s) for k, s in sorted(per.items())}

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "ids": list(self.ids),
            "verdicts": [list(v) for v in self.verdicts],
            "expectation_results": [asdict(e) for e in self.expectation_results],
            "gx_import_seconds": self.gx_import_seconds,
            "validation_seconds": self.validation_seconds,
            "gx_validate_seconds": self.gx_validate_seconds,
            "summary": {
                "treatments": len(self.ids),
                "quarantined": len(self.quarantined),
                "warned": len(self.warned),
                "passed": len(self.passed_ids),
            },
        }

    def to_json(self) -> str:
        """PII-free JSON (treatment numbers, rules, counts) for the state database."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GateResult:
        d = json.loads(text)
        return cls(
            run_id=d["run_id"],
            ids=list(d["ids"]),
            verdicts=[Verdict(*v) for v in d["verdicts"]],
            expectation_results=[ExpectationOutcome(**e) for e in d["expectation_results"]],
            gx_import_seconds=d.get("gx_import_seconds", 0.0),
            validation_seconds=d.get("validation_seconds", 0.0),
            gx_validate_seconds=d.get("gx_validate_seconds", 0.0),
        )


def _index_ids(result: dict[str, Any]) -> list[str]:
    """Treatment numbers from GX's unexpected_index_list (1.24: [{col: [ids]}]; older: [{col: id}])."""
    out: list[str] = []
    for entry in result.get("unexpected_index_list") or []:
        value = entry.get(ID_COLUMN) if isinstance(entry, dict) else entry
        for v in value if isinstance(value, list) else [value]:
            out.append(_id_text(v))
    return out


def _raised(info: Any) -> bool:
    """GX reports an exception flat ({raised_exception: ...}) or per metric ({metric_id: {...}})."""
    if not isinstance(info, dict):
        return False
    if info.get("raised_exception"):
        return True
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def _id_text(value: Any) -> str:
    if value is None or str(value) in ("<NA>", "nan", "NaT", "None"):
        return MISSING_ID
    return str(value)


def _columns(kwargs: dict[str, Any]) -> list[str]:
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] + list(kwargs.get("column_list", []))


_CONTEXT: Any = None


def _batch_definition() -> Any:
    """One ephemeral GX context per process, progress bars and analytics off."""
    global _CONTEXT
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if _CONTEXT is None:
        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = ctx.data_sources.add_pandas("spor_gate").add_dataframe_asset("treatments")
        asset.add_batch_definition_whole_dataframe("all")
        _CONTEXT = ctx
    return _CONTEXT.data_sources.get("spor_gate").get_asset("treatments").get_batch_definition("all")


def run_gate(
    df: pd.DataFrame,
    *,
    suites_dir: Path | str | None = None,
    run_id: str | None = None,
    recipient: str = DEFAULT_RECIPIENT,
) -> GateResult:
    """Validate the night's treatments (after the opt-out filter) and return per-row verdicts.

    ``df``: one row per treatment, spor_behandling columns plus the child-list columns from
    ``frame_from_treatments``. ``recipient``: the V105 value the builder will send (R20).
    Raises QualityGateError if an expectation cannot be evaluated (missing column, GX error).
    """
    t0 = time.perf_counter()
    import great_expectations  # noqa: F401 - timed separately: 6-8 s on a 2-core machine

    import_seconds = time.perf_counter() - t0
    suites_path = Path(suites_dir) if suites_dir else None
    suite = load_gx_gate_suite(suites_path)

    t1 = time.perf_counter()
    prepared = prepare_frame(df, recipient=recipient)
    ids = [_id_text(v) for v in prepared[ID_COLUMN]]
    # GX hashes and copies the whole frame per expectation: give it only the columns it reads.
    needed = [ID_COLUMN] + sorted({c for e in suite.expectations for c in _columns(e.configuration.kwargs)} - {ID_COLUMN})
    missing = [c for c in needed if c not in prepared.columns]
    if missing:
        raise QualityGateError(f"quality gate: input lacks columns {missing}")
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": prepared[needed]})
    verdicts: list[Verdict] = []
    outcomes: list[ExpectationOutcome] = []
    t2 = time.perf_counter()
    with warnings.catch_warnings():
        # GX tests regexes with str.contains; a code-list pattern with a group makes pandas warn.
        warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
        validation = batch.validate(suite, result_format=RESULT_FORMAT)
    gx_validate_seconds = time.perf_counter() - t2
    for er in validation.results:
        cfg = er.expectation_config
        meta = cfg.meta or {}
        if _raised(er.exception_info) or not er.result:
            # The message may quote data; name only the expectation (fail closed).
            raise QualityGateError(f"quality gate: expectation {meta.get('id')} could not be evaluated")
        res = er.result or {}
        failing = _index_ids(res)
        verdicts.extend(Verdict(bn, meta["rule"], meta["severity"], meta["id"]) for bn in failing)
        outcomes.append(ExpectationOutcome(
            expectation_id=meta["id"], type=cfg.type, rule=meta["rule"], severity=meta["severity"],
            description=meta["description"], success=bool(er.success),
            element_count=int(res.get("element_count", len(prepared))),
            unexpected_count=int(res.get("unexpected_count", len(failing))),
            missing_count=res.get("missing_count"), columns=_columns(cfg.kwargs),
            inferred=bool(meta.get("inferred")), assumption=bool(meta.get("assumption")),
            suite=str(meta.get("suite", "")), consequence=str(meta.get("consequence") or FELLISTA),
        ))
    if len(outcomes) != len(suite.expectations):
        raise QualityGateError("quality gate: GX returned fewer results than the suites hold")

    bad_identity, reservnummer, checked = identity_failures(prepared)
    bad_times = unparseable_time_ids(df, prepared)
    duplicates, lists_checked = duplicate_code_ids(prepared)
    reserv_set = set(reservnummer)
    # A reservnummer is reported once, as identity-unknown (the more specific reason wins).
    verdicts = [v for v in verdicts if not (v.expectation_id == "D15-shape" and v.behandlingsnummer in reserv_set)]
    for check_id, failing, count in (("D15-identity", bad_identity, checked),
                                     ("identity-unknown", reservnummer, checked),
                                     ("D18-tid", bad_times, len(prepared)),
                                     ("duplicate-code", duplicates, lists_checked)):
        meta = CHECK_META[check_id]
        verdicts.extend(Verdict(bn, meta["rule"], meta["severity"], check_id) for bn in failing)
        outcomes.append(ExpectationOutcome(
            expectation_id=check_id, type=meta["type"], rule=meta["rule"], severity=meta["severity"],
            description=meta["description"], success=not failing, element_count=count,
            unexpected_count=len(failing), suite="python",
        ))
    validation_seconds = time.perf_counter() - t1
    result = GateResult(run_id=run_id, ids=ids, verdicts=verdicts, expectation_results=outcomes,
                        gx_import_seconds=import_seconds, validation_seconds=validation_seconds,
                        gx_validate_seconds=gx_validate_seconds)
    log.info("quality gate%s: %d treatments, %d quarantined, %d warned, %d passed (%.2f s)",
             f" run {run_id}" if run_id else "", len(ids), len(result.quarantined), len(result.warned), len(result.passed_ids),
             validation_seconds)
    return result
