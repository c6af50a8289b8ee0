"""The Rasa side: training data from flows, the flow policy, Babel NLG, the agent.

Importing this package first arranges Rasa's imports for a fast, small process
(measured in the README): see bot.engine.imports.
"""

from bot.engine import imports as _imports

_imports.prepare()
