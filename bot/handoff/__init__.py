"""Handoff to hotline staff (issue 7, in progress): tickets first; console and relay to come."""
