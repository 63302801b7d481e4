"""Sending a planned batch: the send loop, the sending windows, the capacity estimate."""
