"""The terminal: `kyr chat` (interactive) and script mode (JSON lines) for end-to-end tests."""
