"""The e-mail text UCR's operations desk receives for one removal request (R11 point by point).

Swedish, the register's language: the scope (one treatment, or the whole patient: then UCR is
asked to remove ALL the patient's registrations, also other units'), the treatment numbers SPOR
accepted from us (they identify the patient: no personal identity number is e-mailed or stored),
the reason, how the staff learned of the wish, the date, the SystemId(s), the environment and our
reference. The text is composed once, when the request is raised, and stored with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spor.pii import mask_person_ids
from spor.removal.model import CAUSE_SPARRLISTA, SCOPE_PATIENT, UCR_ADDRESS

__all__ = ["clean_free_text", "compose_request_text"]

_ENVIRONMENT_TEXT = {
    "production": "produktion (integration.ucr.uu.se)",
    "stage": "stage (test-integration.ucr.uu.se, ucrtestserv01.ucr.uu.se: one stage, two entrances)",
    "stage-test-cert": "stage, testcertifikat (ucrtestserv01.ucr.uu.se)",
}


def clean_free_text(value: Any) -> str | None:
    """OPS free text for the e-mail: one line, anything shaped like an identity number masked."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return mask_person_ids(text) if text else None


def compose_request_text(*, request_id: int, cause: str, source_key: str, environment: str, scope: str,
                         numbers: Sequence[str], system_ids: Sequence[str], orsak: str | None, kanal: str | None,
                         datum: str | None) -> tuple[str, str]:
    """(subject, text) of the e-mail to UCR's operations desk, in Swedish (the register's language)."""
    env_text = _ENVIRONMENT_TEXT.get(environment, environment)
    subject = f"SPOR: begäran om borttagning av data ({'hela patienten' if scope == SCOPE_PATIENT else 'en behandling'}), " \
              f"begäran {request_id}, {environment}"
    if scope == SCOPE_PATIENT:
        scope_text = ("HELA PATIENTEN. UCR ombeds ta bort ALLA patientens registreringar i SPOR, även sådana "
                      "som andra enheter har skickat.")
        numbers_text = ("Behandlingsnummer som SPOR har tagit emot från oss (de identifierar patienten; av "
                        "integritetsskäl skickar vi inget personnummer per e-post):")
    else:
        scope_text = "EN BEHANDLING. Endast registreringen med behandlingsnumret nedan ska tas bort."
        numbers_text = "Behandlingsnummer som SPOR har tagit emot från oss:"
    ref = f"spärrlistepost {source_key}" if cause == CAUSE_SPARRLISTA else "borttagen i OPS"
    lines = [
        f"Till: UCR drift <{UCR_ADDRESS}>",
        "",
        f"Begäran om borttagning av data i SPOR ({env_text}).",
        "",
        f"Omfattning: {scope_text}",
        f"{numbers_text} {', '.join(numbers)}",
        f"Anledning: {orsak or '-'}",
        f"Hur personalen fick kännedom om patientens önskan: {kanal or '-'}",
        f"Datum: {datum or '-'}",
        f"SystemId: {', '.join(system_ids)}",
        f"Miljö: {env_text}",
        f"Vår referens: begäran {request_id} ({ref})",
        "",
        "Vänligen bekräfta till avsändaren när borttagningen är gjord.",
    ]
    return subject, "\n".join(lines) + "\n"
