"""`pullrekun serve`: the long-running surface (webhooks, health, metrics; the dashboard next)."""
