"""Pure domain of the pgw cloud: PaymentIntent state machine, tenants, commands and ports (no I/O)."""
