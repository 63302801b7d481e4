"""Airflow hooks: the SPOR RegistrationService connection."""
