"""Operator commands: ``python -m spor <command>``."""
