"""docker-compose.yml: valid against the Compose specification, and what it starts works.

The schema is vendored (tests/data/compose_spec.json, from the docker-compose 1.29.2
wheel, Apache-2.0) so the check runs without Docker. Then the file's own commands run
natively, in its order: the one-shot migration, then the bot with its workers, against
PostgreSQL at 127.0.0.1 and a Graph API test double; a signed webhook must be answered
and SIGTERM must end every worker cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.settings import PROJECT_ROOT
from tests.conftest import POSTGRES_URL, postgres_reason

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).parent / "data" / "compose_spec.json"
_VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, enough for this file."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def test_the_compose_file_follows_the_specification() -> None:
    check = validator()
    compose = load()
    errors = [e.message for e in check.iter_errors(compose)]
    assert not errors, errors
    broken = {**compose, "services": {"bot": {"ports": 8000, "restart": ["always"]}}}
    assert list(check.iter_errors(broken)), "the schema check accepts anything"
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "bot"}
    assert services["bot"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["restart"] == "no"
    example = (PROJECT_ROOT / ".env.example").read_text()
    used = {m.group(1) for m in _VARIABLE.finditer(COMPOSE.read_text())}
    assert all(f"{name}=" in example for name in used), "a variable the file uses is not in .env.example"


def native(command: list[str], env: dict[str, str]) -> list[str]:
    """The service's command, as it would run in the image: `kyr` is `python -m bot`."""
    words = [interpolate(word, env) for word in command]
    assert words[0] == "kyr"
    return [sys.executable, "-m", "bot", *words[1:]]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
async def test_the_compose_commands_start_and_answer(trained: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reason = postgres_reason()
    if reason:
        pytest.skip(reason)
    from bot.channels.whatsapp.channel import signature
    from tests.channels.fake_graph import FakeGraphAPI

    graph = await FakeGraphAPI().start()
    services = load()["services"]
    port = free_port()
    env = {**os.environ, "DATABASE_URL": POSTGRES_URL, "KYR_SECRET_KEY": "compose-test",
           "KYR_WORKERS": "2", "KYR_DATA_DIR": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT),
           "WHATSAPP_TOKEN": "T", "WHATSAPP_PHONE_NUMBER_ID": "1", "WHATSAPP_APP_SECRET": "s",
           "WHATSAPP_VERIFY_TOKEN": "v", "WHATSAPP_API_BASE": graph.base()}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    migrate = subprocess.run(native(services["migrate"]["command"], env), env=env,
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    command = native(services["bot"]["command"], env)
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    assert command[command.index("--workers") + 1] == "2"
    bot = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        healthy = False
        while time.monotonic() < deadline and not healthy:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    healthy = json.loads(response.read())["ok"]
            except OSError:
                assert bot.poll() is None, bot.stderr.read()[-3000:] if bot.stderr else ""
                await asyncio.sleep(1.0)
        assert healthy
        children = Path(f"/proc/{bot.pid}/task/{bot.pid}/children").read_text().split()
        assert len(children) >= 2, "uvicorn did not start two worker processes"
        user = f"1773{int(time.time()) % 10**8:08d}"
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"messages": [
                {"from": user, "id": f"wamid.compose.{user}", "timestamp": str(int(time.time())),
                 "type": "text", "text": {"body": "hola"}}]}}]}]}).encode()
        request = urllib.request.Request(f"{base}/webhooks/whatsapp", data=body, method="POST",
                                         headers={"X-Hub-Signature-256": signature("s", body)})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        for _ in range(300):
            if any(m["to"] == user for m in graph.sent):
                break
            await asyncio.sleep(0.1)
        assert any(m["to"] == user for m in graph.sent), "the webhook was not answered"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert 'kyr_inbox{state="done"}' in response.read().decode()
    finally:
        bot.send_signal(signal.SIGTERM)
        try:
            code = bot.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(bot.pid, signal.SIGKILL)
            code = None
        await graph.stop()
    assert code == 0, "SIGTERM did not end the workers cleanly"
