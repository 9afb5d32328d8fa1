"""Card reader over a framed serial protocol (docs/card-reader-protocol.md); never a full card number."""
