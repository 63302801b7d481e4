"""Stand-in for SPOR's stage RegistrationService (test material; see standin/README.md)."""
