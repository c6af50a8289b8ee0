"""Two measured fixes to Rasa 3.6's per-message cost (see README, "Performance").

1. Rasa runs its prediction and NLU graphs through dask on every message. These graphs
   are tiny; a depth-first evaluation of the same minimal schema gives the same results
   without dask's scheduling overhead. The processor imports DaskGraphRunner by name, so
   that name is replaced there.
2. `Event.resolve_by_type` walks every Event subclass (recursively, with `inspect`) for
   every event it deserialises. The mapping from type name to class is fixed once Rasa
   is imported, so it is built once and rebuilt only on a miss.
3. The processor deep-copies events and parse data on every turn only to pass them to
   structlog debug calls (every `copy.` in rasa/core/processor.py is such an argument).
   This bot never emits those logs (they would contain resident text), so the copies are
   skipped there.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple, Type

import rasa.core.processor
import rasa.shared.utils.common
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import Event

_installed = False


class SequentialGraphRunner(DaskGraphRunner):
    """Evaluates the graph depth-first in the calling thread; same inputs and outputs."""

    _minimal_cache: Dict[Tuple[Text, ...], GraphSchema]

    def run(
        self,
        inputs: Optional[Dict[Text, Any]] = None,
        targets: Optional[List[Text]] = None,
    ) -> Dict[Text, Any]:
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        cache = self.__dict__.setdefault("_minimal_cache", {})
        schema = cache.get(run_targets)
        if schema is None:
            schema = cache[run_targets] = self._graph_schema.minimal_graph_schema(list(run_targets))
        results: Dict[Text, Tuple[Text, Any]] = {
            name: (name, value) for name, value in (inputs or {}).items()
        }

        def compute(name: Text) -> Tuple[Text, Any]:
            done = results.get(name)
            if done is None:
                needs = schema.nodes[name].needs.values()
                done = results[name] = self._instantiated_nodes[name](*(compute(n) for n in needs))
            return done

        return dict(compute(target) for target in run_targets)


class _NoCopy:
    """Stands in for the `copy` module inside rasa.core.processor (see point 3)."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value


_event_types: Dict[Text, Type[Event]] = {}


def _refresh_event_types() -> None:
    for cls in rasa.shared.utils.common.all_subclasses(Event):
        _event_types.setdefault(cls.type_name, cls)  # first match wins, as in Rasa


def resolve_by_type(type_name: Text, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    cls = _event_types.get(type_name)
    if cls is None:
        _refresh_event_types()
        cls = _event_types.get(type_name)
    if cls is not None:
        return cls
    if type_name == "topic":
        return None  # Rasa's backwards compatibility for old TopicSet events
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


def install() -> None:
    """Idempotent; must run before the Agent loads its model."""
    global _installed
    if _installed:
        return
    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner  # type: ignore[misc]
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]
    rasa.core.processor.copy = _NoCopy  # type: ignore[assignment]
    _installed = True
