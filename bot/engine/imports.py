"""Import order that keeps a serving process at about 2 s and 220 MB instead of 8 s and 580 MB.

- skops (how Rasa loads the LogisticRegression model) scans every module in sys.modules
  for each of ~765 types when it is first imported: about 5 s once TensorFlow is loaded,
  under 1 s before. So skops is imported before anything of Rasa's.
- `rasa.core.policies.policy` imports `rasa.utils.train_utils` (for type names only),
  which imports TensorFlow and Keras. Our serving graph (CountVectors, LogisticRegression,
  FlowPolicy) never calls into it, so it is replaced by a stub that imports the real module
  the first time any attribute is used. Training uses it and so loads TensorFlow as before.
  Together with a model that keeps only its inference graph (bot.engine.training.slim),
  serving never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

DEFERRED = ("rasa.utils.train_utils",)


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is used, then imports it."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)


def _defer(name: str) -> None:
    if name in sys.modules:
        return  # already imported for real (e.g. by training in this process)
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stub = _Deferred(name)
    stub.__spec__ = spec
    sys.modules[name] = stub
    parent, _, child = name.rpartition(".")
    setattr(importlib.import_module(parent), child, stub)


def prepare() -> None:
    if "tensorflow" not in sys.modules:
        import skops.io  # noqa: F401  (see module docstring: order matters)
    for name in DEFERRED:
        _defer(name)
