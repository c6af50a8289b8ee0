"""The one ASGI app: webhooks, health and metrics (the staff console comes later)."""
