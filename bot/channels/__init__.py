"""Channel adapters: one module per platform, each speaking InboundMessage/OutboundMessage."""
