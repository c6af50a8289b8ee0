"""The channels' HTTP client."""

from __future__ import annotations

import importlib.util

from httpcore._synchronization import current_async_library


async def test_httpcore_finds_its_async_library_without_a_search() -> None:
    """httpcore asks which async library runs for every lock and event it makes, several
    a request. Without sniffio installed each ask was a failed import that searched the
    whole of sys.path (67 us against 1.3 us here): a tenth of kyr serve's py-spy samples
    under the serving bench."""
    assert importlib.util.find_spec("sniffio") is not None, "pyproject.toml pins sniffio"
    assert current_async_library() == "asyncio"
