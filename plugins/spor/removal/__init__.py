"""Removal requests to UCR (R11) and the audit of one treatment."""
