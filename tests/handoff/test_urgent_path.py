"""The urgent path in script mode, in every live language, at night and during hours.

Each scenario is a `kyr chat --script` run (bot.channels.console.run_script, in-process so
the hotline's hour can be set) and asserts on the JSON lines a resident's screen would
show. The content is a copy of the real one in which the deploying organisation has
confirmed two lines: a day line (08:00-22:00) and the 24-hour ICIRR line.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from bot.engine import runtime
from bot.handoff.tickets import REPLY, URGENT
from bot.settings import PROJECT_ROOT, load_settings

LANGS = ("en", "es", "pl", "zh_Hans", "ar", "fr", "ht", "uk")
DAY_LINE = "+1 312-555-0142"
NIGHT_LINE = "+1 855-435-7693"  # ICIRR's, 24 hours
NOON = dt.datetime(2026, 11, 18, 18, 0, tzinfo=dt.timezone.utc)  # Wednesday 12:00 in Chicago
NIGHT = dt.datetime(2026, 11, 19, 7, 30, tzinfo=dt.timezone.utc)  # Thursday 01:30 in Chicago

# The four urgent situations: the buttons that reach them from the menu.
SITUATIONS = {
    "door": ["main_menu:menu>@ice_at_door", "ice_at_door:ask_now>at_door"],
    "detained": ["main_menu:menu>@arrest_detention", "arrest_detention:who>rel_hotline"],
    "raid": ["main_menu:menu>@workplace_raid", "workplace_raid:ask_now>now"],
    "stopped": ["main_menu:menu>@stopped_in_public", "stopped_in_public:ask_now>now"],
}
DANGER_NOW = {  # with a typo or no accents, as typed on a phone at the door
    "en": "they are breakng the door", "es": "estan rompiendo la puerts",
    "pl": "wylamuja drzwi", "zh_Hans": "他们在砸门", "ar": "يكسرون الباب",
    "fr": "ils cassent la porte", "ht": "y ap kase pot la", "uk": "ламають двері",
}
DANGER_LIFE = {
    "en": "someone is hurt", "es": "alguien esta herido", "pl": "ktoś jest ranny",
    "zh_Hans": "有人受伤了", "ar": "شخص مصاب", "fr": "quelqu'un est blessé",
    "ht": "gen yon moun ki blese", "uk": "хтось поранений",
}
TAKING = {
    "en": "they are taking him", "es": "se lo estan llevando", "pl": "zabierają go",
    "zh_Hans": "他们要把他带走", "ar": "ياخذونه الان", "fr": "ils l'emmènent",
    "ht": "y ap pran li", "uk": "забирають його",
}
AT_MY_DOOR = {  # free text while waiting: read for its topic
    "en": "immigration agents are at my door right now",
    "es": "la migra esta en mi puerta ahora mismo",
    "pl": "agenci imigracyjni są pod moimi drzwiami",
    "zh_Hans": "移民局的人在我家门口",
    "ar": "عملاء الهجرة عند باب بيتي الآن",
    "fr": "des agents de l'immigration sont à ma porte",
    "ht": "ajan imigrasyon yo devan pòt mwen kounye a",
    "uk": "імміграційні агенти біля моїх дверей",
}
NOT_SURE = {  # never read as "no"
    "en": ["not sure", "idk", "dunno", "no idea"],
    "es": ["no se", "no c", "nose", "ni idea", "no estoy segura"],
    "pl": ["nie wiem", "nie jestem pewna", "nie jestem pewien", "chyba"],
    "zh_Hans": ["不知道", "不确定", "说不准"],
    "ar": ["مش متأكد", "لست متأكدة", "ما بعرف", "مدري"],
    "fr": ["je sais pas", "pas sûr", "aucune idée"],
    "ht": ["m pa sur", "m pa konnen", "mwen pa si"],
    "uk": ["не знаю", "не впевнена", "хз"],
}
YES = {"en": ["yea", "yep"], "es": ["simon", "sii"], "pl": ["no tak", "tak"], "zh_Hans": ["是的"],
       "ar": ["ايوه"], "fr": ["ouais"], "ht": ["wi"], "uk": ["так", "ага"]}
NO = {"en": ["nope", "nah"], "es": ["nel", "no"], "pl": ["nie"], "zh_Hans": ["不是"], "ar": ["لا"],
      "fr": ["non"], "ht": ["non"], "uk": ["ні"]}
RELATIVE = {  # "Who was detained?"
    "en": ["my son", "him", "my husband"], "es": ["mi hijo", "ella", "mi esposo"],
    "pl": ["mój syn", "mąż"], "zh_Hans": ["我儿子", "他"], "ar": ["ابني", "زوجي"],
    "fr": ["mon fils", "lui"], "ht": ["pitit mwen", "mari mwen"], "uk": ["мій син", "чоловік"],
}
ME = {"en": ["me"], "es": ["yo"], "pl": ["ja"], "zh_Hans": ["我"], "ar": ["انا"], "fr": ["moi"],
      "ht": ["mwen menm"], "uk": ["я"]}  # not "se mwen": it reads as "sè mwen" (my sister)
WHERE = {  # "Where are you?": (typed, step it leads to)
    "en": [("driving", "driver"), ("in my car", "driver"), ("on the street", "street")],
    "es": [("manejando", "driver"), ("en la calle", "street"), ("pasajero", "passenger")],
    "pl": [("prowadzę", "driver"), ("na ulicy", "street")],
    "zh_Hans": [("我在开车", "driver"), ("在街上", "street")],
    "ar": [("في سيارتي", "driver"), ("في الشارع", "street")],
    "fr": [("je conduis", "driver"), ("dans la rue", "street")],
    "ht": [("m ap kondi", "driver"), ("nan lari a", "street")],
    "uk": [("я за кермом", "driver"), ("на вулиці", "street")],
}


@pytest.fixture(scope="module")
def confirmed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real flows, content and catalogs, with two hotlines confirmed by the organisation."""
    import shutil

    home = tmp_path_factory.mktemp("home")
    for name in ("flows", "content", "locales"):
        shutil.copytree(PROJECT_ROOT / name, home / name)
    shutil.copy(PROJECT_ROOT / "babel.cfg", home / "babel.cfg")
    path = home / "content" / "contacts.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    contacts = data["contacts"]
    seen = {"page": "https://example.org/our-hotline", "date": "2026-11-30"}
    contacts["icirr_hotline"].update(status="confirmed", confirmed=seen)
    day = {"name": "Rapid Response Day Line", "phone": DAY_LINE,
           "hours": {d: "08:00-22:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
           "languages": ["en", "es", "pl"], "tags": ["hotline"],
           "source": contacts["icirr_hotline"]["source"], "status": "confirmed", "confirmed": seen}
    data["contacts"] = {"rapid_response": contacts.pop("rapid_response"), "day_line": day, **contacts}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return home


@pytest.fixture(scope="module")
def engine(confirmed_home: Path, trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The services of a bot over the confirmed copy (named `engine` for brevity here)."""
    from bot.app.services import build

    try:
        shared = runtime.current()  # the session engine's; one process runs one bot
    except RuntimeError:
        shared = None
    data = tmp_path_factory.mktemp("urgent-data")
    model_dir = trained.parent if trained.is_file() else trained
    loaded = build(load_settings({"KYR_HOME": str(confirmed_home), "KYR_DATA_DIR": str(data),
                                  "KYR_MODEL_DIR": str(model_dir), "KYR_SECRET_KEY": "test-secret"}))
    loaded.conversation.clock = lambda: NOON
    try:
        yield loaded
    finally:
        loaded.db.dispose()
        if shared is not None:
            runtime.install(shared)


_runs = iter(range(10**6))


async def script(engine: Any, turns: list[dict[str, str]], lang: str) -> list[list[dict[str, Any]]]:
    """Run script lines for one new resident; the JSON replies, grouped per input line."""
    from bot.channels.terminal.channel import run_script

    user = f"u{next(_runs)}"
    grouped = []
    for n, turn in enumerate(turns):
        out = io.StringIO()
        lines = [json.dumps({**turn, "user": user}).encode()]
        await run_script(engine.conversation, lines, out)
        grouped.append([json.loads(line) for line in out.getvalue().splitlines()])
    return grouped


def ticket_of(engine: Any, user_replies: list[dict[str, Any]]) -> Any:
    from bot.core.messages import InboundMessage

    user = user_replies[0]["user"]
    return engine.tickets.open_for(engine.conversation.resident(InboundMessage("console", user)))


def before_question(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first answer up to its question: the messages before the last one, which asks
    (or, when the answer's own buttons moved to the status, the messages before those)."""
    return replies[:-1]


def all_text(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r["text"] for r in replies)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("situation", sorted(SITUATIONS))
@pytest.mark.parametrize("hour", ["noon", "night"])
async def test_each_urgent_situation_answers_short_with_the_line_open_now(
        engine: Any, lang: str, situation: str, hour: str) -> None:
    engine.conversation.clock = lambda: NOON if hour == "noon" else NIGHT
    try:
        turns = [{"text": "/start " + lang}] + [{"button": b} for b in SITUATIONS[situation]]
        replies = (await script(engine, turns, lang))[-1]
    finally:
        engine.conversation.clock = lambda: NOON
    first = before_question(replies)
    assert 1 <= len(first) <= 2, [r["step"] for r in replies]
    assert replies[-1]["buttons"], "the question's buttons come last"
    said = all_text(first)
    open_line, closed_line = (DAY_LINE, NIGHT_LINE) if hour == "noon" else (NIGHT_LINE, DAY_LINE)
    assert open_line.split()[-1] in said and closed_line.split()[-1] not in said, said
    assert "call to check the hours" not in said
    assert first[0]["step"] not in ("disclaimer", "greeting")  # what to do comes first
    if lang == "en":
        assert len(said) <= 600, len(said)
    assert "/stop" in [b["payload"] for r in replies for b in r["buttons"]]
    ticket = ticket_of(engine, replies)
    assert ticket is not None and ticket.priority == URGENT


@pytest.mark.parametrize("lang", LANGS)
async def test_danger_while_waiting_is_answered_in_the_same_turn_and_made_urgent(
        engine: Any, lang: str) -> None:
    runs = await script(engine, [{"text": "/start " + lang}, {"text": "/human"},
                                 {"text": DANGER_NOW[lang]}], lang)
    ticket = ticket_of(engine, runs[-1])
    assert ticket is not None
    danger = runs[-1]
    assert len(danger) == 1 and danger[0]["step"] == "danger_now", danger
    assert "911" in danger[0]["text"] and DAY_LINE.split()[-1] in danger[0]["text"]
    assert danger[0]["lang"] == lang
    assert engine.tickets.get(ticket.id).priority == URGENT
    assert engine.tickets.events(ticket.id)[-1] == ("escalated", "resident")


@pytest.mark.parametrize("lang", LANGS)
async def test_danger_to_life_and_someone_taken_are_recognised_anywhere(engine: Any, lang: str) -> None:
    runs = await script(engine, [{"text": "/start " + lang}, {"text": DANGER_LIFE[lang]},
                                 {"text": TAKING[lang]}], lang)
    life, taking = runs[1], runs[2]
    assert life[0]["step"] == "danger_life" and life[0]["text"].index("911") < 120, life[0]["text"]
    assert taking[0]["step"] in ("danger_now", "danger_life"), taking
    ticket = ticket_of(engine, life)
    assert ticket is not None and ticket.priority == URGENT


@pytest.mark.parametrize("lang", LANGS)
async def test_free_text_while_waiting_is_answered_and_reaches_staff(engine: Any, lang: str) -> None:
    runs = await script(engine, [{"text": "/start " + lang}, {"text": "/human"},
                                 {"text": AT_MY_DOOR[lang]}], lang)
    answer = runs[-1]
    assert answer and answer[-1]["flow"] == "ice_at_door", answer
    ticket = ticket_of(engine, answer)
    assert ticket is not None
    assert AT_MY_DOOR[lang] in [m.text for m in engine.tickets.messages(ticket.id)]


@pytest.mark.parametrize("lang", LANGS)
async def test_after_a_staff_reply_the_bot_is_quiet_and_says_so_once(engine: Any, lang: str) -> None:
    runs = await script(engine, [{"text": "/start " + lang}, {"text": "/human"}], lang)
    ticket = ticket_of(engine, runs[-1])
    assert ticket is not None
    engine.tickets.claim(ticket.id, "ana")
    engine.tickets.add_message(ticket.id, "staff:ana", REPLY, "Hello, I am here.")
    user = runs[-1][0]["user"]
    quiet = []
    for text in (AT_MY_DOOR[lang], "ok", AT_MY_DOOR[lang]):
        out = io.StringIO()
        from bot.channels.terminal.channel import run_script

        await run_script(engine.conversation, [json.dumps({"text": text, "user": user}).encode()], out)
        quiet.append([json.loads(line) for line in out.getvalue().splitlines()])
    assert [r["step"] for r in quiet[0]] == ["handoff_quiet"]
    assert "/bot" in quiet[0][0]["text"]
    assert quiet[1] == [] and quiet[2] == []
    out = io.StringIO()
    await run_script(engine.conversation, [json.dumps({"text": DANGER_LIFE[lang], "user": user}).encode()], out)
    assert "911" in out.getvalue()  # danger is answered in any state
    out = io.StringIO()
    await run_script(engine.conversation, [json.dumps({"text": "/bot", "user": user}).encode()], out)
    assert json.loads(out.getvalue().splitlines()[-1])["buttons"]  # guidance is back


@pytest.mark.parametrize("lang", LANGS)
async def test_after_lang_a_typed_answer_answers_the_step(engine: Any, lang: str) -> None:
    other = "es" if lang != "es" else "en"
    yes = YES[other][0]
    runs = await script(engine, [{"text": "/start " + lang}, {"button": "main_menu:menu>@ice_at_door"},
                                 {"text": "/lang"}, {"button": f"/lang {other}"}, {"text": yes}], lang)
    assert runs[3][-1]["step"] == "ask_now" and runs[3][-1]["lang"] == other
    assert "at_door" in [r["step"] for r in runs[4]], runs[4]
    again = await script(engine, [{"text": "/start " + lang}, {"button": "main_menu:menu>@ice_at_door"},
                                  {"text": "/lang"}, {"button": f"/lang {other}"}, {"text": "1"}], lang)
    assert "at_door" in [r["step"] for r in again[4]]  # "1" is the step's first answer now


@pytest.mark.parametrize("lang", LANGS)
async def test_not_sure_yes_and_no_phrasings(engine: Any, lang: str) -> None:
    base = [{"text": "/start " + lang}, {"button": "main_menu:menu>@ice_at_door"},
            {"button": "ice_at_door:ask_now>at_door"}]
    for typed in NOT_SURE[lang]:
        runs = await script(engine, base + [{"text": typed}], lang)
        assert "not_sure" in [r["step"] for r in runs[-1]], (typed, [r["step"] for r in runs[-1]])
    for typed in YES[lang]:
        runs = await script(engine, base + [{"text": typed}], lang)
        assert "judicial" in [r["step"] for r in runs[-1]], (typed, [r["step"] for r in runs[-1]])
    for typed in NO[lang]:
        runs = await script(engine, base + [{"text": typed}], lang)
        assert "administrative" in [r["step"] for r in runs[-1]], (typed, [r["step"] for r in runs[-1]])


@pytest.mark.parametrize("lang", LANGS)
async def test_natural_answers_to_who_and_where(engine: Any, lang: str) -> None:
    who = [{"text": "/start " + lang}, {"button": "main_menu:menu>@arrest_detention"}]
    for typed in RELATIVE[lang]:
        runs = await script(engine, who + [{"text": typed}], lang)
        assert "rel_hotline" in [r["step"] for r in runs[-1]], (typed, [r["step"] for r in runs[-1]])
    for typed in ME[lang]:
        runs = await script(engine, who + [{"text": typed}], lang)
        assert "me_silent" in [r["step"] for r in runs[-1]], (typed, [r["step"] for r in runs[-1]])
    where = [{"text": "/start " + lang}, {"button": "main_menu:menu>@stopped_in_public"},
             {"button": "stopped_in_public:ask_now>ask_where"}]
    for typed, step in WHERE[lang]:
        runs = await script(engine, where + [{"text": typed}], lang)
        assert step in [r["step"] for r in runs[-1]], (typed, [r["step"] for r in runs[-1]])


@pytest.mark.parametrize("typed", ["/ /kyr_command{\"command\":\"handoff_closed\"}",
                                   "//kyr_command{\"command\": \"handoff_closed\"}",
                                   " \u3000/kyr_button{\"payload\": \"/lang es\"}",
                                   "/ /kyr_command{\"command\":\"delete\"}",
                                   "/\t/kyr_button{\"payload\": \"delete_my_data:confirm>done\"}"])
async def test_rasa_syntax_is_only_text(engine: Any, typed: str) -> None:
    """Only real button payloads and the documented commands are commands: Rasa's
    '/intent{...}' typed with a space, a tab or two slashes is read as words."""
    runs = await script(engine, [{"text": "/start en"}, {"button": "/lang en"}, {"text": typed},
                                 {"text": "/menu"}], "en")
    said = all_text(runs[2])
    assert "ended the chat" not in said and "I erased this conversation" not in said
    assert all(r["lang"] == "en" for r in runs[2])
    assert "Welcome" not in all_text(runs[3])  # the conversation was not erased


@pytest.mark.parametrize("lang", LANGS)
async def test_a_person_will_answer_only_when_someone_is_on_shift(engine: Any, lang: str) -> None:
    """At 1:30 am a volunteer on shift in Spanish and English: "a person will answer", in
    those languages (and a Creole speaker is told they can still write in Creole); at noon
    with nobody on shift: no such promise."""
    engine.conversation.presence = lambda: {"en", "es"}
    engine.conversation.clock = lambda: NIGHT
    try:
        night = (await script(engine, [{"text": "/start " + lang}, {"text": "/human"}], lang))[-1]
        engine.conversation.presence = lambda: set()
        engine.conversation.clock = lambda: NOON
        nobody = (await script(engine, [{"text": "/start " + lang}, {"text": "/human"}], lang))[-1]
    finally:
        engine.conversation.presence = lambda: None
        engine.conversation.clock = lambda: NOON
    queued = engine.renderer.text(lang, "handoff.queued", position="1")[:12]  # before the number
    assert queued in all_text(night)
    assert "English, Español" in all_text(night)
    other = engine.renderer.text(lang, "handoff.languages_other", languages="English, Español",
                                 language="X").split("X")[0]
    assert (other in all_text(night)) == (lang not in ("en", "es"))
    assert queued not in all_text(nobody)
    assert engine.renderer.text(lang, "handoff.after_hours")[:30] in all_text(nobody)
