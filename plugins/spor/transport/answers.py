"""What SPOR's reply to one registration means, as a state of the registration's state machine.

``AnswerReader.read`` takes the HTTP response to a posted registration and either returns a
``SporAnswer`` for the four final answers (created, updated, rejected, malformed) or raises the
typed error (``spor.errors``) that tells the caller what to do next:

- ``TransientError`` (retry later): HTTP 502/503/504, a soap:Server fault, HTTP 500 without a
  SOAP fault;
- ``CertificateError`` (stops the run): HTTP 401/403;
- ``ConfigurationError`` (stops the run): any other status than 200 or 500, e.g. a wrong endpoint;
- ``AnswerError`` (stops the run): an answer that does not fit what was sent, such as
  ``Skapade: N`` for another behandlingsnummer or an unknown result code.

``resultCode OK`` is final whatever its text: the guide gives ``Skapade: 2200054`` and
``Uppdaterade: 2200054`` only as examples. When the text says created or updated (with or without
a colon, with or without a closing period) that is the state; otherwise the answer says so
(``kind_from_text`` False) and the ledger decides (``spor.state.attempts.record_answer``). A text
naming another behandlingsnummer than the one sent means answers are mixed up: the run stops.

SPOR's texts are kept for the team, with personal identity numbers masked. The reply is parsed
through the WSDL's binding (zeep), so an answer that does not follow the WSDL is never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spor.errors import AnswerError, CertificateError, ConfigurationError, TransientError
from spor.lifecycle import State
from spor.transport.connection import SporConnectionConfig

if TYPE_CHECKING:
    import zeep
    from requests import Response
    from zeep.exceptions import Fault

__all__ = ["AnswerReader", "SporAnswer", "familiar_ok_text", "parse_fault"]


@dataclass(frozen=True)
class SporAnswer:
    behandlingsnummer: str
    state: State                   # CREATED, UPDATED, REJECTED or MALFORMED
    result_code: str               # 'OK', 'ERROR', or the SOAP fault code (e.g. 'soap:Client')
    result_text: str               # SPOR's text, personal identity numbers masked
    fault_type: str | None = None  # MALFORMED: the XSD type (or element) named, e.g. 'kvakod'
    fault_rule: str | None = None  # MALFORMED: the rule, e.g. 'cvc-pattern-valid'
    http_status: int | None = None
    elapsed_s: float = 0.0
    # OK only: False when SPOR's text did not say created or updated; ``state`` is then CREATED
    # until the ledger (spor.state.attempts.record_answer) says whether SPOR held it already.
    kind_from_text: bool = True


def _mask(text: str) -> str:
    # identity.py owns the masking rule; imported late so the client loads without the build code
    from spor.pii import mask_person_ids

    return mask_person_ids(text)


_RULE = re.compile(r"\b(cvc-[A-Za-z0-9.\-]*[A-Za-z0-9])(?=:)")
_TYPE = re.compile(r"for type '([^']+)'")
_ELEMENT = re.compile(r"(?:of element|starting with element|content of element) '([^']+)'")
#: The guide's OK texts: "Skapade: 2200054", "Uppdaterade 2200054.", "Skapade" (number optional).
_OK_TEXT = re.compile(r"^\s*(?P<kind>Skapade|Uppdaterade)(?:(?:\s*:\s*|\s+)(?P<nr>[0-9A-Za-z\-]+))?\s*[.:]?\s*$",
                      re.IGNORECASE)
_KIND_WORD = re.compile(r"^\s*(Skapade|Uppdaterade)\b", re.IGNORECASE)
_TOKEN = re.compile(r"[0-9A-Za-z\-]+")


def familiar_ok_text(text: str | None) -> bool:
    """Whether an OK text has the guide's form ("Skapade: N", "Uppdaterade N." ...)."""
    return bool(text) and _OK_TEXT.match(text or "") is not None


def _shape(token: str) -> str:
    return "".join("9" if c.isdigit() else "a" if c.isalpha() else c for c in token)


def _other_number(text: str, nr: str) -> str | None:
    """A behandlingsnummer other than ``nr`` that ``text`` names, or None.

    In the guide's form the token after the word is the number. In any other text a token is
    taken for a behandlingsnummer when it has the sent number's shape (same length, digits and
    letters in the same places) and is not that number: a date or a word never is."""
    m = _OK_TEXT.match(text)
    if m:
        named = m.group("nr")
        return named if named and named != nr else None
    tokens = _TOKEN.findall(text)
    if nr in tokens:
        return None
    return next((t for t in tokens if _shape(t) == _shape(nr)), None)


def parse_fault(faultstring: str) -> tuple[str | None, str | None]:
    """(type, rule) from a Java-stack schema fault, e.g. ('kvakod', 'cvc-pattern-valid')."""
    rule = _RULE.search(faultstring)
    named = _TYPE.search(faultstring) or _ELEMENT.search(faultstring)
    type_name = named.group(1).rsplit("}", 1)[-1].split(":")[-1] if named else None
    return type_name, rule.group(1) if rule else None


class AnswerReader:
    """Reads replies to one WSDL operation of one SPOR connection."""

    def __init__(self, zeep_client: zeep.Client, operation: str, config: SporConnectionConfig) -> None:
        self.config = config
        self._zeep = zeep_client
        self._binding = zeep_client.service._binding
        self._operation = self._binding.get(operation)

    @property
    def soap_action(self) -> str:
        return self._operation.soapaction or ""

    def read(self, nr: str, response: Response, elapsed: float) -> SporAnswer:
        """The answer for behandlingsnummer ``nr`` in ``response``, or the error it amounts to."""
        from zeep.exceptions import Fault, TransportError, XMLParseError, XMLSyntaxError

        status = response.status_code
        if status in (502, 503, 504):
            raise TransientError(f"{nr}: SPOR answered HTTP {status} (temporarily unavailable)")
        if status in (401, 403):
            raise CertificateError(f"SPOR refused the client certificate at HTTP level (HTTP {status}); "
                                   f"{self.config.describe()}")
        if status not in (200, 500):
            raise ConfigurationError(f"SPOR answered HTTP {status} at {self.config.endpoint}: check the endpoint URL")
        try:
            result = self._binding.process_reply(self._zeep, self._operation, response)
        except Fault as fault:
            return self._fault_answer(nr, fault, status, elapsed)
        except (TransportError, XMLSyntaxError, XMLParseError) as exc:
            # No parseable SOAP: a 500 from a proxy or a crashed service. Content not quoted (personal data).
            if status == 500:
                raise TransientError(f"{nr}: SPOR answered HTTP 500 without a SOAP fault") from None
            raise AnswerError(f"{nr}: SPOR's answer is not SOAP this client understands ({type(exc).__name__})") from None
        code = str(_field(result, "resultCode") or "").strip()
        text = str(_field(result, "resultText") or "")
        masked = _mask(text)
        if code == "OK":
            other = _other_number(text, nr)
            if other is not None:
                raise AnswerError(f"{nr}: SPOR answered OK naming behandlingsnummer {_mask(other)} "
                                  f"({masked!r}), not the one sent: answers are mixed up, stopping")
            word = _KIND_WORD.match(text)
            if word is None:  # "OK", "Registreringen mottagen" ...: accepted, kind from the ledger
                return SporAnswer(nr, State.CREATED, code, masked, http_status=status, elapsed_s=elapsed,
                                  kind_from_text=False)
            state = State.CREATED if word.group(1).lower() == "skapade" else State.UPDATED
            return SporAnswer(nr, state, code, masked, http_status=status, elapsed_s=elapsed)
        if code == "ERROR":
            return SporAnswer(nr, State.REJECTED, code, masked, http_status=status, elapsed_s=elapsed)
        raise AnswerError(f"{nr}: SPOR answered an unknown result code {_mask(code)!r}")

    @staticmethod
    def _fault_answer(nr: str, fault: Fault, status: int, elapsed: float) -> SporAnswer:
        """A schema fault is SPOR's verdict on the message (malformed); any other fault is SPOR failing."""
        text = _mask(str(fault.message or ""))
        code = str(fault.code or "")
        type_name, rule = parse_fault(text)
        is_schema = bool(rule) or "Unmarshalling" in text or code.rsplit(":", 1)[-1].rsplit("}", 1)[-1] == "Client"
        if not is_schema:
            raise TransientError(f"{nr}: SPOR's service failed (SOAP fault {code or 'without code'}, HTTP {status})")
        return SporAnswer(nr, State.MALFORMED, code or "soap:Client", text, fault_type=type_name, fault_rule=rule,
                          http_status=status, elapsed_s=elapsed)


def _field(result: object, name: str) -> object:
    if result is None:
        return None
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)
