"""Typed errors. RunStopping errors stop the whole run; ItemErrors belong to one registration.

Messages never carry personal data: they name the behandlingsnummer, the variable and the rule.
"""

from __future__ import annotations


class SporError(Exception):
    """Base of every error this package raises on purpose."""


# --- errors that stop everything -------------------------------------------------------------
class RunStoppingError(SporError):
    """Sending cannot go on for anyone: configuration, certificate, schema mismatch, block list."""


class CertificateError(RunStoppingError):
    """The client certificate was rejected or is unusable (expired, wrong CA, key mismatch)."""


class SystemicError(RunStoppingError):
    """The first answers of a run all fail the same way: configuration or schema mismatch."""


class BlockListUnavailable(RunStoppingError):
    """The opt-out block list could not be read: nothing may be sent (fail closed, R11)."""


class ConfigurationError(RunStoppingError):
    """A connection, variable or mapping is missing or invalid."""


class SchemaMismatch(RunStoppingError):
    """The WSDL the SOAP client loaded and the schema the builder validates against describe
    different messages, or its binding is not the SOAP 1.1 document/literal call the client makes."""


class AnswerError(RunStoppingError):
    """SPOR's answer does not fit what was sent (another behandlingsnummer, unknown result code)."""


# --- errors that belong to one registration --------------------------------------------------
class ItemError(SporError):
    """One registration failed; the others go on."""

    def __init__(self, behandlingsnummer: str, message: str):
        self.behandlingsnummer = behandlingsnummer
        super().__init__(f"{behandlingsnummer}: {message}")


class BuildError(ItemError):
    """The registration cannot be built. Names the variable and the rule, never a personal value."""

    def __init__(self, behandlingsnummer: str, variable: str, rule: str, message: str):
        self.variable = variable
        self.rule = rule
        self.reason = message
        super().__init__(behandlingsnummer, f"{variable} [{rule}] {message}")


class IdentityUnknown(BuildError):
    """No valid personnummer/samordningsnummer yet (e.g. a reservnummer): held back, not dropped."""


class TransientError(SporError):
    """Timeout, connection reset without a TLS alert, HTTP 502/503/504: retry later."""
