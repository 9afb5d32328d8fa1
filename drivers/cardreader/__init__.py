"""Card reader over a framed serial protocol (see PROTOCOL.md); never handles a full card number."""
