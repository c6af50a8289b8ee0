"""The core: flows, content, dialogue rules and rendering.

It knows nothing of the outside: no Rasa, no channel SDK, no web framework, no database.
tests/core/test_independence.py walks its imports to keep it that way.
"""
