"""Removal requests to UCR (R11, D20; docs/opt-out.md) and the audit of one treatment.

``model`` holds the vocabulary and the stored request, ``text`` composes the e-mail UCR receives,
``store`` writes and reads requests, ``matching`` finds what the block list and deletions in the
OPS call for, ``status`` moves a request raised → sent → confirmed, and ``nightly`` is the
nightly step (raise, then deliver). ``audit`` answers what happened to one treatment number.
"""
