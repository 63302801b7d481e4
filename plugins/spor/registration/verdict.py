"""The builder's verdict on one treatment that passed the quality gate: its registration, or why
it cannot be built (not buildable, or identity unknown), with the rule and the variable.

The build-and-stage task and ``spor render`` both call :func:`build_verdict`, so the night and
the preview hold back the same treatments for the same reasons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spor.verdicts import HeldBackItem

if TYPE_CHECKING:
    from spor.registration.builder import Registration


def build_verdict(treatment: Any, units: Any, *, environment: str | None,
                  schema: Any = None) -> Registration | HeldBackItem:
    """The registration of one treatment that passed the gate, or why it cannot be built."""
    from spor.errors import BuildError, IdentityUnknown
    from spor.lifecycle import State
    from spor.registration.builder import build_registration

    try:
        return build_registration(treatment.row, treatment.children, units.system_id(treatment.row.get("enhet")),
                                  schema=schema)
    except BuildError as exc:  # IdentityUnknown is a BuildError with its own state
        state = State.IDENTITY_UNKNOWN if isinstance(exc, IdentityUnknown) else State.NOT_BUILDABLE
        return HeldBackItem(str(treatment.behandlingsnummer), state, rule=exc.rule, reason=exc.reason,
                            variable=exc.variable, environment=environment)
