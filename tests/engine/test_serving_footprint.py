"""Serving never imports TensorFlow (what keeps cold start at a third of stock Rasa's and
peak RSS under half of it: see README, "Performance")."""

import subprocess
import sys

from bot.settings import PROJECT_ROOT

PROBE = """
import asyncio, sys, tempfile
from bot.settings import load_settings
from bot.app.services import build
from bot.core.messages import InboundMessage
services = build(load_settings({"KYR_DATA_DIR": tempfile.mkdtemp(), "KYR_SECRET_KEY": "x"}))
for text in ("ICE is at my door", "/menu", "hola", "/lang"):
    asyncio.run(services.conversation.handle(InboundMessage("probe", "p", text=text)))
print("tensorflow.python" in sys.modules, "rasa.utils.train_utils" in sys.modules and
      type(sys.modules["rasa.utils.train_utils"]).__name__)
"""


def test_serving_process_does_not_import_tensorflow(trained) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "_Deferred"]
