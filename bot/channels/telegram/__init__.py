"""Telegram: `channel` (python-telegram-bot, polling or webhook), `parse` (updates ->
InboundMessage, pure), `plugin` (settings, limits, capabilities: what the registry reads)."""
