"""Reading the night's treatments from the OPS: the source contract, the opt-out filter, the hand-over between tasks."""
