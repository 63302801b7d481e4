"""The state database: tables, outbox and ledger, run log and run summary."""
