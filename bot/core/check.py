"""`kyr content check`: everything an editor can get wrong, as file:line messages."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import urlparse

from bot.core import alerts, streets
from bot.core.content import Content, Review, load_content
from bot.core.delivery import Limits
from bot.core.dialogue import COMMAND_FLOWS, LANGUAGE_FLOW, MENU_FLOW, STOP_ALERTS_FLOW, option_payloads
from bot.core.flows import COLLECT, PICK_AREA, TYPED_ANSWERS, Flow, Step, load_flows
from bot.core.languages import NATIVE_NAMES
from bot.core.lines import URGENT_TAG, confirmed, urgent_lines
from bot.core.problems import Problem
from bot.core.render import placeholders

MAX_MESSAGE = 1024
MAX_BUTTON = 20
MAX_PARAGRAPHS = 3
MAX_PAYLOAD_BYTES = 64  # Telegram's callback_data limit: the default when no channel says
REVIEW_SOON_DAYS = 30
# A source must be the document that says the thing. These paths are landing pages: a home
# page, a "resources" or "know your rights" index, or a whole Illinois Act instead of its section.
INDEX_LAST_SEGMENTS = {"", "resources", "know-your-rights", "kyr", "index.html", "index.htm",
                       "home", "en", "news"}
INDEX_PATTERNS = (re.compile(r"ilga\.gov/legislation/ilcs/ilcs[345]\.asp\b", re.I),)
CONTACT_FIELDS = {"name", "phone", "url", "hours"}
ROOT_FLOWS = {MENU_FLOW, LANGUAGE_FLOW, STOP_ALERTS_FLOW, *COMMAND_FLOWS.values()}
ALWAYS_USED = {"ui.greeting", "ui.disclaimer", "ui.fallback", "ui.main_menu", "ui.talk_to_person",
               "ui.language_set", "ui.language_unavailable", "ui.directory_line",
               "ui.hours_always", "ui.hours_all_day", "ui.hours_closed", "ui.hours_unconfirmed",
               "ui.welcome_back", "ui.language_switched", "ui.switch_language_prompt",
               "ui.text_only", "ui.private_only", "ui.cmd_menu", "ui.cmd_lang", "ui.cmd_human",
               "ui.cmd_delete", "ui.cmd_help", "ui.cmd_alerts", "alerts.staff_note", "ui.list_button", "ui.choose", "ui.cmd_stop",
               "ui.translation_pending", "ui.drafts_notice",
               alerts.STOP_WORDS, alerts.UNKNOWN_AREA, alerts.ZIP_CODE, alerts.NOT_SAVED,
               streets.HOME_ADDRESS,
               *alerts.ALERT_TEMPLATES}
# The handoff texts, the canned replies staff pick in the console, the danger answers and
# their words, and the line open now are used by code.
USED_BY_CODE_PREFIXES = ("handoff.", "canned.", "danger.", "urgent.")
BUTTON_KEYS = {"ui.main_menu", "ui.talk_to_person", "ui.list_button", "handoff.stop",
               "handoff.keep_waiting"}
# Placeholders that the renderer fills itself in these texts.
OWN_FIELDS = {"ui.directory_line": {"name", "phone", "hours", "languages"},
              "ui.language_switched": {"language"}, "ui.switch_language_prompt": {"language"},
              "ui.private_only": {"link"}, "handoff.queued": {"position"}, "handoff.urgent_queued": {"position"}, "handoff.wait": {"count"},
              "urgent.line_now": {"line_name", "line_phone", "line_languages"},
              "handoff.languages": {"languages"}, "handoff.languages_other": {"languages", "language"},
              "alerts.staff_note": {"text"},
              **{key: set(alerts.TEMPLATE_FIELDS) for key in alerts.ALERT_TEMPLATES}}
# Placeholders the renderer fills in any text: the one line open now (bot/core/lines.py).
ANY_TEXT_FIELDS = {"line_now"}


def _sample_line_now(content: Content) -> str:
    """{line_now} as long as it can be: the longest urgent line, or the words for none."""
    lines = urgent_lines(content)
    if not lines or "urgent.line_now" not in content.texts:
        return content.texts["urgent.no_line_now"].text if "urgent.no_line_now" in content.texts else ""
    longest = max(lines, key=lambda c: len(c.name) + len(c.phone or "") + 10 * len(c.languages))
    names = ", ".join(NATIVE_NAMES.get(code, code) for code in longest.languages)
    return (content.texts["urgent.line_now"].text.replace("{line_name}", longest.name)
            .replace("{line_phone}", longest.phone or "").replace("{line_languages}", names))


def _sample_length(text: str, content: Content) -> int:
    """Length once placeholders are filled with realistic values."""
    length = len(text)
    for name in placeholders(text):
        if name == "line_now":
            length += len(_sample_line_now(content)) - len(name) - 2
            continue
        contact_id, _, field = name.partition(".")
        contact = content.contacts.get(contact_id)
        value = ""
        if contact is not None:
            value = {"name": contact.name, "phone": contact.phone or "", "url": contact.url or "",
                     "hours": "Mon\u2013Fri 9:00 AM\u20135:00 PM"}.get(field, "")
        length += len(value) - len(name) - 2
    return length


def check_texts(content: Content, used_as_button: set[str], today: dt.date,
                naming_areas: "set[str] | frozenset[str]" = frozenset()) -> list[Problem]:
    """`naming_areas`: the texts said in flows that pick areas, where {areas} is filled."""
    problems: list[Problem] = []
    for key, entry in content.texts.items():
        where = (entry.path, entry.line)
        if key in used_as_button and len(entry.text) > MAX_BUTTON:
            problems.append(Problem(*where, f"button label '{key}' has {len(entry.text)} characters "
                                    f"(at most {MAX_BUTTON}): \"{entry.text}\""))
        length = _sample_length(entry.text, content)
        if length > MAX_MESSAGE:
            problems.append(Problem(*where, f"'{key}' has {length} characters with placeholders "
                                    f"filled (at most {MAX_MESSAGE})"))
        paragraphs = [p for p in entry.text.split("\n\n") if p.strip()]
        if len(paragraphs) > MAX_PARAGRAPHS:
            problems.append(Problem(*where, f"'{key}' has {len(paragraphs)} paragraphs "
                                    f"(at most {MAX_PARAGRAPHS} short ones)"))
        if entry.legal and not entry.sources:
            problems.append(Problem(*where, f"'{key}' is a legal statement without sources"))
        for source in entry.sources:
            if source not in content.sources:
                problems.append(Problem(*where, f"'{key}' cites unknown source '{source}' "
                                        "(add it to content/sources.yml)"))
        for name in placeholders(entry.text):
            if name in OWN_FIELDS.get(key, set()) or name in ANY_TEXT_FIELDS:
                continue
            if name == alerts.AREAS_FIELD and key in naming_areas:
                continue
            contact_id, _, field = name.partition(".")
            if contact_id not in content.contacts or field not in CONTACT_FIELDS:
                problems.append(Problem(*where, f"'{key}' uses unknown placeholder '{{{name}}}' "
                                        "(expected {contact_id.name|phone|url|hours} from contacts.yml)"))
            elif field in ("phone", "url") and not getattr(content.contacts[contact_id], field):
                problems.append(Problem(*where, f"'{key}' uses '{{{name}}}' but contact "
                                        f"'{contact_id}' has no {field}"))
        if entry.legal and entry.sources and all(
                content.sources[s].kind == "secondary" for s in entry.sources
                if s in content.sources):
            problems.append(Problem(*where, f"'{key}' is a legal statement with only secondary "
                                    "sources: cite the statute, order or agency page too, or "
                                    "list the point under the topic's review: to_verify",
                                    "warning"))
    return problems


def is_index_page(url: str) -> bool:
    """True for a home page, a resources index or a whole Act: not the document itself."""
    if any(p.search(url) for p in INDEX_PATTERNS):
        return True
    parts = urlparse(url)
    if parts.path.strip("/") == "" and parts.query:  # "/?p=123": an article, not the home page
        return False
    return parts.path.rstrip("/").rsplit("/", 1)[-1].lower() in INDEX_LAST_SEGMENTS


def check_sources(content: Content, today: dt.date) -> list[Problem]:
    problems = []
    for source in content.sources.values():
        where = (source.path, source.line)
        if is_index_page(source.url):
            problems.append(Problem(*where, f"source '{source.id}' points at an index or home "
                                    f"page ({source.url}): link the document that says it",
                                    "warning"))
        if source.checked is None:
            problems.append(Problem(*where, f"source '{source.id}': nobody has recorded opening "
                                    "it (checked: not yet): read it and write the date",
                                    "warning"))
        elif source.checked > today:
            problems.append(Problem(*where, f"source '{source.id}' was checked on "
                                    f"{source.checked}, a date in the future"))
    return problems


def _reviews(content: Content) -> dict[str, Review]:
    """One review per topic file, in file order."""
    found: dict[str, Review] = {}
    for entry in content.texts.values():
        if entry.review is not None:
            found.setdefault(entry.path, entry.review)
    return found


def check_reviews(content: Content, today: dt.date) -> list[Problem]:
    """Review state as it is: drafts, overdue reviews and every point left for the lawyers."""
    problems = []
    for path, review in _reviews(content).items():
        legal = [t for t in content.texts.values() if t.path == path and t.legal]
        where = (review.path, review.line)
        if review.due < today:
            problems.append(Problem(*where, f"lawyer review was due on {review.due} "
                                    f"({review.status})", "warning"))
        elif legal and (review.due - today).days <= REVIEW_SOON_DAYS:
            problems.append(Problem(*where, f"lawyer review is due on {review.due}: plan it now",
                                    "warning"))
        if legal and not review.lawyer_reviewed:
            problems.append(Problem(*where, f"draft: {len(legal)} legal text(s) that no lawyer "
                                    "has reviewed", "warning"))
        for item in review.to_verify:
            problems.append(Problem(*where, f"to_verify: {item}", "warning"))
    return problems


def review_summary(content: Content) -> str:
    """Per topic: how much legal text a lawyer has reviewed, and what is left to verify."""
    rows = ["| topic file | status | legal texts | lawyer-reviewed | to verify | due |",
            "|---|---|---:|---:|---:|---|"]
    total = reviewed = 0
    for path, review in _reviews(content).items():
        legal = sum(1 for t in content.texts.values() if t.path == path and t.legal)
        done = legal if review.lawyer_reviewed else 0
        total, reviewed = total + legal, reviewed + done
        who = f" ({review.by}, {review.date})" if review.lawyer_reviewed else ""
        rows.append(f"| {path} | {review.status}{who} | {legal} | {done} | "
                    f"{len(review.to_verify)} | {review.due} |")
    rows.append(f"| all | | {total} | {reviewed} | | |")
    return "\n".join(rows)


def check_contacts(content: Content) -> list[Problem]:
    problems = []
    for contact in content.contacts.values():
        where = (contact.path, contact.line)
        unknown = [lang for lang in contact.languages if lang not in NATIVE_NAMES]
        if unknown:
            problems.append(Problem(*where, f"contact '{contact.id}': unknown language code(s) "
                                    f"{', '.join(unknown)} (known: {', '.join(NATIVE_NAMES)})"))
        if contact.source and contact.source not in content.sources:
            problems.append(Problem(*where, f"contact '{contact.id}' cites unknown source "
                                    f"'{contact.source}'"))
        if not contact.source and "chat" not in contact.tags:  # the deploying organisation itself
            problems.append(Problem(*where, f"contact '{contact.id}' has no source"))
        if contact.status == "placeholder":
            problems.append(Problem(*where, f"contact '{contact.id}' is a placeholder: the "
                                    "deploying organisation must fill in its name and hours",
                                    "warning"))
        elif contact.status != "confirmed":
            problems.append(Problem(*where, f"contact '{contact.id}' is unconfirmed: nobody has "
                                    "read its number and hours on its own page yet", "warning"))
        if URGENT_TAG in contact.tags and contact.phone and not confirmed(contact):
            problems.append(Problem(*where, f"contact '{contact.id}' is left out of urgent "
                                    "answers until it is confirmed (status: confirmed, with "
                                    "confirmed: {page, date} where it was read)", "warning"))
    return problems


def check_flows(flows: dict[str, Flow], content: Content, payload_bytes: int = MAX_PAYLOAD_BYTES,
                ) -> tuple[list[Problem], set[str], set[str]]:
    """Cross-references and reachability; returns problems, keys used, button keys.
    `payload_bytes`: the strictest channel's limit on a button payload."""
    problems: list[Problem] = []
    used: set[str] = set(ALWAYS_USED) | {k for k in content.texts if k.startswith(USED_BY_CODE_PREFIXES)}
    buttons: set[str] = set(BUTTON_KEYS)
    tags = {t for c in content.contacts.values() for t in c.tags}

    def need_key(flow: Flow, line: int, key: str, what: str) -> None:
        used.add(key)
        if key not in content.texts:
            problems.append(Problem(flow.path, line, f"{what} '{key}' is not defined in content/"))

    reached_flows = set()
    for flow in flows.values():
        need_key(flow, 1, flow.title, "title")
        buttons.add(flow.title)
        for step in flow.steps.values():
            need_key(flow, step.line, step.say, "message")
            if step.next is not None and step.next not in flow.steps:
                problems.append(Problem(flow.path, step.line, f"step '{step.id}' goes next to "
                                        f"missing step '{step.next}'"))
            if step.next_flow is not None:
                reached_flows.add(step.next_flow)
                if step.next_flow not in flows:
                    problems.append(Problem(flow.path, step.line, f"step '{step.id}' goes to "
                                            f"missing flow '{step.next_flow}'"))
            if step.directory is not None and step.directory not in tags:
                problems.append(Problem(flow.path, step.line, f"no contact in contacts.yml has "
                                        f"the tag '{step.directory}'"))
            elif step.directory is not None and step.say in content.texts:
                problems += _with_directory(flow, step.line, content.texts[step.say].text,
                                            step.directory, content)
            for option, payload in option_payloads(flow.id, step):  # as sent, '#1' included
                need_key(flow, option.line, option.label, "button label")
                if option.words is not None:
                    need_key(flow, option.line, option.words, "typed words")
                buttons.add(option.label)
                if len(payload.encode()) > payload_bytes:
                    problems.append(Problem(flow.path, option.line, f"button payload '{payload}' "
                                            f"is over {payload_bytes} bytes: shorten the ids"))
                if option.goto is not None and option.goto not in flow.steps:
                    problems.append(Problem(flow.path, option.line, f"button goes to missing "
                                            f"step '{option.goto}'"))
                if option.flow is not None:
                    reached_flows.add(option.flow)
                    if option.flow not in flows:
                        problems.append(Problem(flow.path, option.line, f"button starts missing "
                                                f"flow '{option.flow}'"))
        problems += _collecting(flow)
        problems += _unreachable_steps(flow)
    for missing in sorted(ROOT_FLOWS - set(flows)):
        problems.append(Problem("flows/", 1, f"the bot needs a flow '{missing}' (flows/{missing}.yml)"))
    for flow in flows.values():
        if flow.id not in reached_flows and flow.id not in ROOT_FLOWS:
            problems.append(Problem(flow.path, 1, f"flow '{flow.id}' is unreachable: no menu, "
                                    "button or step leads to it"))
    return problems, used, buttons


def area_texts(flows: dict[str, Flow]) -> set[str]:
    """Keys said in flows with a pick_area step: {areas} names what was picked there."""
    return {step.say for flow in flows.values()
            if any(s.action == PICK_AREA for s in flow.steps.values())
            for step in flow.steps.values()}


def _collecting(flow: Flow) -> list[Problem]:
    """pick_area and cross_streets steps lead somewhere; collect steps give a known value
    on every button; a subscription has areas to subscribe to."""
    problems = []
    picks = any(s.action == PICK_AREA for s in flow.steps.values())

    def bad(step: Step, line: int, message: str) -> None:
        problems.append(Problem(flow.path, line, f"step '{step.id}': {message}"))

    for step in flow.steps.values():
        if step.action in TYPED_ANSWERS:
            taken = "a recognised area" if step.action == PICK_AREA else "typed cross streets"
            if step.picked is None:
                bad(step, step.line, f"action {step.action} needs 'picked:', the step {taken} leads to")
            elif step.picked not in flow.steps:
                bad(step, step.line, f"'picked' goes to missing step '{step.picked}'")
            if not step.waits:
                bad(step, step.line, f"action {step.action} waits for the answer: no 'next' here")
        elif step.picked is not None:
            bad(step, step.line, "'picked' is only for action pick_area or cross_streets")
        if step.action == "subscribe" and not picks:
            bad(step, step.line, "action subscribe needs a pick_area step in the flow (the areas)")
        allowed = COLLECT.get(step.collect or "", ())
        for option in step.options:
            if step.collect is None and option.value is not None:
                bad(step, option.line, "'value' is only for a step that collects ('collect:')")
            elif step.collect is not None and option.goto is not None and option.value not in allowed:
                bad(step, option.line, f"'{step.collect}' takes a value of {', '.join(allowed)}, "
                    f"not {option.value!r}")
    return problems


def _with_directory(flow: Flow, line: int, text: str, tag: str, content: Content) -> list[Problem]:
    """The message as sent: its text plus the contact lines appended under it."""
    listing = "\n".join(f"{c.name}: {c.phone or c.url} (Mon\u2013Fri 9:00 AM\u20135:00 PM)"
                         for c in content.directory(tag))
    whole = f"{text}\n\n{listing}"
    problems = []
    if _sample_length(whole, content) > MAX_MESSAGE:
        problems.append(Problem(flow.path, line, f"message with the '{tag}' directory is over "
                                f"{MAX_MESSAGE} characters"))
    if len([p for p in whole.split("\n\n") if p.strip()]) > MAX_PARAGRAPHS:
        problems.append(Problem(flow.path, line, f"message with the '{tag}' directory has more "
                                f"than {MAX_PARAGRAPHS} paragraphs (the contact list is one)"))
    return problems


def _unreachable_steps(flow: Flow) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    todo = [flow.first.id]
    while todo:
        step_id = todo.pop()
        if step_id in seen or step_id not in flow.steps:
            continue
        seen.add(step_id)
        step = flow.steps[step_id]
        todo += [o.goto for o in step.options if o.goto] + ([step.next] if step.next else [])
        todo += [step.picked] if step.picked else []
    for step in flow.steps.values():
        if step.id not in seen:
            problems.append(Problem(flow.path, step.line, f"step '{step.id}' is unreachable "
                                    f"from the first step '{flow.first.id}'"))
    # A chain of `next` that comes back on itself never waits: no way out.
    for step in flow.steps.values():
        chain, current = set(), step
        while current.next is not None and current.next in flow.steps:
            if current.id in chain:
                problems.append(Problem(flow.path, step.line, f"step '{step.id}' is in a loop of "
                                        "'next' steps that never waits for the resident"))
                break
            chain.add(current.id)
            current = flow.steps[current.next]
    return problems


def run_check(home: Path, today: dt.date | None = None, limits: Limits | None = None) -> list[Problem]:
    """Every check; `limits` are the strictest of the channels the bot runs on
    (bot.channels.registry.strictest, passed by `kyr`: the core knows no channel)."""
    today = today or dt.date.today()
    payload_bytes = limits.payload_bytes if limits is not None else MAX_PAYLOAD_BYTES
    flows, problems = load_flows(home / "flows", home)
    content, content_problems = load_content(home / "content", home)
    problems += content_problems
    flow_problems, used, buttons = check_flows(flows, content, payload_bytes)
    problems += flow_problems
    problems += check_texts(content, buttons, today, area_texts(flows))
    problems += check_contacts(content)
    problems += check_sources(content, today)
    problems += check_reviews(content, today)
    problems += check_urgent_answers(flows, content, _po_translations(home))
    for key in sorted(set(content.texts) - used):
        entry = content.texts[key]
        problems.append(Problem(entry.path, entry.line, f"'{key}' is not used by any flow", "warning"))
    return sorted(set(problems), key=lambda p: (p.severity != "error", p.path, p.line, p.message))


# ---- the first answer to someone in danger: short, in every language ----

URGENT_MESSAGES = 2  # messages before the question (the handoff notice counts as one)
# Characters of those messages, placeholders filled, per language: 600 in English; the
# others write longer (about 1.25x for the Latin and Cyrillic ones) or shorter (Chinese).
URGENT_LIMITS = {"en": 600, "es": 760, "fr": 760, "pl": 760, "ht": 760, "uk": 760,
                 "ar": 700, "zh_Hans": 320}
# The status said with an urgent answer: the place in line, or after hours the shorter
# notice; then what not to write. (bot.core.handoff.urgent_status)
URGENT_STATUS_KEYS = (("handoff.urgent_queued",), ("handoff.urgent_after_hours",))
URGENT_PRIVACY = "handoff.privacy_short"
URGENT_LANGUAGES = "handoff.languages_other"  # added when the hotline does not answer in it


def urgent_first_answers(flows: dict[str, Flow]) -> list[tuple[Flow, int, list[str]]]:
    """Each step that opens an urgent ticket, with the content keys said from it up to its
    question (the first step that waits; a step that waits is its own question)."""
    found = []
    for flow in flows.values():
        for step in flow.steps.values():
            if step.action != "handoff" or not (flow.urgent or step.urgent):
                continue
            said, current = [step.say], step
            while current.next is not None and current.next in flow.steps:
                current = flow.steps[current.next]
                if current.waits:
                    break
                said.append(current.say)
            found.append((flow, step.line, said))
    return found


def _po_translations(home: Path) -> dict[str, dict[str, str]]:
    """{lang: {content key: translation}} from the .po files (fuzzy and empty ones skipped:
    they are shown in English)."""
    from babel.messages.pofile import read_po

    out: dict[str, dict[str, str]] = {}
    for po in sorted((home / "locales").glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as handle:
            catalog = read_po(handle)
        texts: dict[str, str] = {}
        for message in catalog:
            if not message.id or not message.string or message.fuzzy or not message.context:
                continue
            forms = message.string if isinstance(message.string, tuple) else (message.string,)
            texts[str(message.context)] = max((str(f) for f in forms), key=len)
        out[po.parent.parent.name] = texts
    return out


def check_urgent_answers(flows: dict[str, Flow], content: Content,
                         translations: dict[str, dict[str, str]]) -> list[Problem]:
    """The first answer to an urgent situation: at most 2 messages (the handoff notice
    included) before its question, within each language's character limit, and naming
    the line open now ({line_now}), never a number with "call to check the hours"."""
    problems: list[Problem] = []
    hotline = content.contacts.get("rapid_response")
    answered_in = hotline.languages if hotline is not None else ()

    def length(lang: str, keys: list[str]) -> int:
        texts = translations.get(lang, {}) if lang != "en" else {}
        return sum(_sample_length(texts.get(k) or content.texts[k].text, content)
                   for k in keys if k in content.texts)

    for flow, line, said in urgent_first_answers(flows):
        where = (flow.path, line)
        if len(said) + 1 > URGENT_MESSAGES:
            problems.append(Problem(*where, f"the first urgent answer here is {len(said) + 1} "
                                    f"messages before its question (at most {URGENT_MESSAGES}, "
                                    "the hotline notice included)"))
        keys = [k for k in said if k in content.texts]
        if keys and not any("{line_now}" in content.texts[k].text for k in keys):
            problems.append(Problem(*where, f"the first urgent answer ({', '.join(keys)}) does "
                                    "not name the line open now: add {line_now}"))
        for key in keys:
            if any(f"{{{c.id}.hours}}" in content.texts[key].text for c in content.contacts.values()):
                problems.append(Problem(*where, f"'{key}' is an urgent answer: it names hours "
                                        "that may read \"call to check the hours\"; use {line_now}"))
        for lang, limit in URGENT_LIMITS.items():
            status = max(length(lang, list(variant)) for variant in URGENT_STATUS_KEYS)
            extra = [URGENT_PRIVACY] + ([URGENT_LANGUAGES] if lang not in answered_in else [])
            total = length(lang, keys) + status + length(lang, extra)
            if total > limit:  # English is the rule; a long translation is a translator's task
                problems.append(Problem(*where, f"the first urgent answer ({', '.join(keys)}) has "
                                        f"{total} characters in {lang} with the hotline notice "
                                        f"(at most {limit})" + ("" if lang == "en" else
                                                                ": shorten the translation"),
                                        "error" if lang == "en" else "warning"))
    return problems
