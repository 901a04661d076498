"""The tamper-evident audit trail: events and the hash chain that links them."""
