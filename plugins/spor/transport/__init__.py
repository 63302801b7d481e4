"""Talking to SPOR: the connection model, client key material, the certificate check and the SOAP
client (network and answer parsing only)."""
