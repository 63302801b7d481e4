"""Check the client certificate before sending: warn before it expires, fail when it cannot work.

The DAGs' ``check_certificate`` task asks ``certificate_status`` before the first batch. It
reads the certificate in whichever form the connection gives it (PEM files, PEM content,
PKCS#12) and raises ``CertificateError`` (stops the run) when it is expired, not yet valid, or
does not match its key; within ``warn_days`` (default 30) of expiry it returns a status with a
warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from spor.errors import CertificateError, ConfigurationError
from spor.transport.connection import SporConnectionConfig


@dataclass(frozen=True)
class CertStatus:
    subject: str          # function certificate subject (a system, not a person)
    issuer: str
    not_before: datetime
    not_after: datetime
    days_left: int
    warning: str | None   # set when it expires within warn_days

    @property
    def ok(self) -> bool:
        return self.warning is None


def certificate_status(config: SporConnectionConfig, *, now: datetime, warn_days: int = 30) -> CertStatus:
    from spor.transport.tlsfiles import key_matches, load_credentials

    if now.tzinfo is None:
        raise ConfigurationError("certificate_status needs a timezone-aware 'now'")
    creds = load_credentials(config)
    cert = creds.certificate
    subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    source = config.pkcs12_file or config.cert_file or ("pkcs12_b64" if config.pkcs12_b64 else "cert_pem")
    where = f"client certificate {subject} ({source})"
    if now < not_before:
        raise CertificateError(f"{where} is not valid yet: valid from {not_before:%Y-%m-%d %H:%M} UTC")
    if now >= not_after:
        raise CertificateError(f"{where} expired on {not_after:%Y-%m-%d %H:%M} UTC: order a new SITHS function certificate")
    if not key_matches(creds):
        raise CertificateError(f"{where} does not match its key (wrong key file or key_pem)")
    days_left = (not_after - now).days
    warning = None
    if days_left < warn_days:
        warning = (f"{where} expires in {days_left} days ({not_after:%Y-%m-%d}); order a new one "
                   "from the local SITHS administration in time")
    return CertStatus(subject, issuer, not_before, not_after, days_left, warning)
