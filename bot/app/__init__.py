"""The application layer: what a message leads to (the conversation service), who owns a
resident's data, the relay from staff to residents, and the one place that builds them."""
