"""Know Your Rights bot: rights guidance for immigrant residents of Chicago."""

__version__ = "0.1.0"
