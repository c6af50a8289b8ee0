"""Flows are validated data: errors name the file, the line and what was expected."""

from pathlib import Path

import yaml
from hypothesis import given, settings as hsettings, strategies as st

from bot.core.check import run_check
from bot.core.flows import load_flow_file, load_flows
from bot.settings import PROJECT_ROOT

ALL_TOPICS = {"ice_at_door", "stopped_in_public", "workplace_raid", "arrest_detention",
              "warrant_check", "remain_silent", "legal_help", "report_activity", "safety_plan",
              "local_protections", "talk_to_person", "change_language", "delete_my_data"}


def test_every_topic_has_a_flow_named_after_it() -> None:
    flows, problems = load_flows(PROJECT_ROOT / "flows")
    assert problems == []
    assert ALL_TOPICS <= set(flows)
    assert {"main_menu", "help"} <= set(flows)


def test_shipped_content_passes_the_check() -> None:
    errors = [p for p in run_check(PROJECT_ROOT) if p.severity == "error"]
    assert errors == []


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_unknown_key_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "demo.yml", "id: demo\ntitle: demo.title\nsteps:\n"
                 "  - id: one\n    say: demo.one\n    sya: demo.typo\n")
    flow, problems = load_flow_file(path)
    assert flow is None
    assert len(problems) == 1
    assert problems[0].line == 4
    assert "unknown key 'sya'" in problems[0].message


def test_option_needs_exactly_one_target(tmp_path: Path) -> None:
    path = write(tmp_path / "demo.yml", "id: demo\ntitle: demo.title\nsteps:\n"
                 "  - id: one\n    say: demo.one\n    options:\n"
                 "      - label: demo.opt\n        goto: one\n        flow: other\n")
    _, problems = load_flow_file(path)
    assert problems and problems[0].line == 7
    assert "exactly one of 'goto'" in problems[0].message


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path / "demo.yml", "id: demo\ntitle: [unclosed\nsteps: []\n")
    _, problems = load_flow_file(path)
    assert problems and problems[0].line >= 2 and "YAML syntax" in problems[0].message


def test_flow_id_must_match_file_name(tmp_path: Path) -> None:
    path = write(tmp_path / "demo.yml", "id: other\ntitle: demo.title\nsteps:\n"
                 "  - id: one\n    say: demo.one\n")
    _, problems = load_flow_file(path)
    assert "must match the file name" in problems[0].message


def break_flow(project: Path, name: str, old: str, new: str) -> None:
    path = project / "flows" / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))


def messages(project: Path) -> list[str]:
    return [str(p) for p in run_check(project) if p.severity == "error"]


def test_missing_content_key_and_missing_step(project_copy: Path) -> None:
    break_flow(project_copy, "delete_my_data.yml", "say: delete_my_data.kept",
               "say: delete_my_data.nowhere")
    break_flow(project_copy, "delete_my_data.yml", "goto: kept", "goto: kept_gone")
    found = messages(project_copy)
    assert any("flows/delete_my_data.yml:" in m and "'delete_my_data.nowhere' is not defined" in m
               for m in found)
    assert any("missing step 'kept_gone'" in m for m in found)
    assert any("step 'kept' is unreachable" in m for m in found)


def test_unreachable_flow_and_missing_flow(project_copy: Path) -> None:
    break_flow(project_copy, "main_menu.yml", "      - {label: safety_plan.title, flow: safety_plan}\n", "")
    for path in (project_copy / "flows").glob("*.yml"):  # drop every other way in, too
        text = path.read_text()
        if "flow: safety_plan" in text and path.name != "safety_plan.yml":
            lines = text.splitlines(keepends=True)
            keep = []
            for i, line in enumerate(lines):
                if "flow: safety_plan" in line:
                    if keep and "label:" in keep[-1] and not keep[-1].strip().startswith("- {"):
                        keep.pop()
                    continue
                keep.append(line)
            path.write_text("".join(keep))
    break_flow(project_copy, "help.yml", "say: help.text", "say: help.text\n    next_flow: nowhere")
    found = messages(project_copy)
    assert any("flow 'safety_plan' is unreachable" in m for m in found)
    assert any("missing flow 'nowhere'" in m for m in found)


def test_next_loop_is_a_step_with_no_way_out(project_copy: Path) -> None:
    path = project_copy / "flows" / "help.yml"
    path.write_text("id: help\ntitle: help.title\nmenu: false\nsteps:\n"
                    "  - id: a\n    say: help.text\n    next: b\n"
                    "  - id: b\n    say: help.text\n    next: a\n")
    assert any("loop of 'next' steps" in m for m in messages(project_copy))


def test_limits_sources_and_reviews(project_copy: Path) -> None:
    ui = project_copy / "content" / "ui.yml"
    text = ui.read_text()
    text = text.replace('text: "Main menu"', 'text: "Go back to the main menu please"', 1)
    text = text.replace("    sources: [icirr_hotline_launch_2011, cpd_language_line]", "    sources: [no_such_source]")
    text = text.replace('text: "Sorry, I didn\'t understand. Please choose one of the options below."',
                        'text: "' + "x" * 1100 + '"')
    text = text.replace("due: 2027-01-15", "due: 2020-01-31")
    ui.write_text(text)
    problems = run_check(project_copy)
    errors = [str(p) for p in problems if p.severity == "error"]
    warnings = [str(p) for p in problems if p.severity == "warning"]
    assert any("button label 'ui.main_menu' has 31 characters" in m for m in errors)
    assert any("unknown source 'no_such_source'" in m for m in errors)
    assert any("'ui.fallback' has 1100 characters" in m for m in errors)
    assert any("content/ui.yml:3: warning: lawyer review was due on 2020-01-31" in m for m in warnings)


def test_legal_text_without_source_and_bad_placeholder(project_copy: Path) -> None:
    ui = project_copy / "content" / "ui.yml"
    text = ui.read_text().replace("    sources: [icirr_hotline_launch_2011, cpd_language_line]\n", "")
    text = text.replace("{emergency.phone}", "{emergency.fax}")
    ui.write_text(text)
    errors = messages(project_copy)
    assert any("'talk_to_person.hotline' is a legal statement without sources" in m for m in errors)
    assert any("unknown placeholder '{emergency.fax}'" in m for m in errors)


STEP_IDS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def flow_dicts(draw: st.DrawFn) -> dict:
    """Valid flows: a chain or branches of steps, options to steps or to other flows."""
    ids = draw(st.lists(STEP_IDS, min_size=1, max_size=6, unique=True))
    steps = []
    for i, step_id in enumerate(ids):
        step: dict = {"id": step_id, "say": f"demo.{step_id}"}
        kind = draw(st.sampled_from(["end", "next", "options"]))
        if kind == "next" and i + 1 < len(ids):
            step["next"] = ids[i + 1]
        elif kind == "options":
            targets = draw(st.lists(st.one_of(st.sampled_from(ids).map(lambda t: {"goto": t}),
                                              STEP_IDS.map(lambda f: {"flow": f})),
                                    min_size=1, max_size=8))
            step["options"] = [{"label": f"demo.opt{j}", **t} for j, t in enumerate(targets)]
        if draw(st.booleans()):
            step["directory"] = "legal_help"
        steps.append(step)
    data = {"id": "demo", "title": "demo.title"}
    if draw(st.booleans()):
        data["disclaimer"] = True
    data["steps"] = steps
    return data


@hsettings(max_examples=60, deadline=None)
@given(flow_dicts())
def test_flow_yaml_round_trip(data: dict) -> None:
    """YAML -> Flow -> YAML -> Flow gives the same flow and the same YAML data."""
    import tempfile

    from bot.core.flows import flow_to_dict

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        first, problems = load_flow_file(path)
        assert problems == [] and first is not None
        dumped = flow_to_dict(first)
        assert dumped == data
        path.write_text(yaml.safe_dump(dumped, sort_keys=False, allow_unicode=True))
        second, problems = load_flow_file(path)
    assert problems == [] and second is not None
    assert flow_to_dict(second) == dumped
    def content(flow):  # type: ignore[no-untyped-def]  # line numbers depend on the layout
        return [(s.id, s.say, s.next, s.directory, [(o.label, o.target) for o in s.options])
                for s in flow.steps.values()]

    assert content(first) == content(second)


def test_broken_files_are_reported_not_crashed_on(project_copy: Path) -> None:
    (project_copy / "content" / "sources.yml").write_text("sources:\n  - just\n  - a list\n")
    (project_copy / "content" / "latin1.yml").write_bytes(b"texts:\n  a.b:\n    text: caf\xe9\n")
    errors = messages(project_copy)
    assert any("content/sources.yml:" in m and "expected 'sources:'" in m for m in errors)
    assert any("content/latin1.yml:3: error: not UTF-8" in m for m in errors)


def test_duplicate_keys_missing_review_and_contact_facts(project_copy: Path) -> None:
    help_text = project_copy / "content" / "extra.yml"
    help_text.write_text("texts:\n  extra.one:\n    text: One\n  extra.one:\n    text: Two\n")
    contacts = project_copy / "content" / "contacts.yml"
    text = contacts.read_text().replace('mon: "08:00-20:00", tue', 'mon: "9am to 5", tue', 1)
    text = text.replace("    languages: [en, es]\n    tags: [legal_help, detention]\n", "    tags: [legal_help, detention]\n", 1)
    contacts.write_text(text)
    errors = messages(project_copy)
    assert any("content/extra.yml:4: error: key 'extra.one' appears twice (also line 2)" in m
               for m in errors)
    assert any("content/extra.yml:1: error: no 'review:' block" in m for m in errors)
    assert any("hours '9am to 5' on mon" in m for m in errors)
    assert any("contact 'nijc' needs languages" in m for m in errors)


def test_message_size_counts_the_appended_directory(project_copy: Path) -> None:
    path = project_copy / "content" / "remain_silent.yml"
    text = path.read_text().replace("These organisations can help:",
                                    "\n\n      These organisations can help:", 1)
    path.write_text(text)
    assert any("flows/remain_silent.yml:" in m and "'legal_help' directory has more than 3"
               in m for m in messages(project_copy))


def test_payloads_fit_telegram_callback_data(project_copy: Path) -> None:
    long_id = "a_very_long_step_name_that_nobody_should_write_x"
    break_flow(project_copy, "delete_my_data.yml", "goto: kept", f"goto: {long_id}")
    break_flow(project_copy, "delete_my_data.yml", "  - id: kept", f"  - id: {long_id}")
    assert any("is over 64 bytes" in m for m in messages(project_copy))


def test_too_many_options_explains_the_limit(project_copy: Path) -> None:
    extra = "".join("      - {label: ui.yes, goto: menu}\n" for _ in range(3))
    break_flow(project_copy, "main_menu.yml", "      - {label: main_menu.opt_more, goto: more}\n",
               "      - {label: main_menu.opt_more, goto: more}\n" + extra)
    assert any("at most 8 options" in m for m in messages(project_copy))
