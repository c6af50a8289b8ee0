"""WhatsApp Cloud API: `channel` (signed webhooks, Graph API sends), `parse` (bodies ->
InboundMessage and statuses, pure), `plugin` (settings, limits, capabilities)."""
