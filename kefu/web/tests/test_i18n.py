"""Both languages complete: no Chinese in the English UI, no English in the Chinese UI, a full catalogue."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from kefu.tickets import services

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
WORD = re.compile(r"[A-Za-z]{3,}")
# Words that are the same in both languages: the product name, SLA/VIP, key names, the language switch.
SHARED_WORDS = {"Kefu", "SLA", "VIP", "Ctrl", "Enter", "Esc", "Shift", "Tab", "English", "example", "com"}
VISIBLE_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt", "data-empty"}


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden":
            return
        if tag == "button" and attributes.get("name") == "language":
            return  # the switch names the other language in that language
        if tag == "input" and attributes.get("type") in ("submit", "button") and attributes.get("value"):
            self.parts.append(attributes["value"] or "")
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip() and data.strip() not in ("简体中文", "English"):
            self.parts.append(data.strip())


def visible_text(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    return parser.parts


@pytest.fixture
def scene(agent: Any, team_lead: Any, repair_department: Any, department_user: Any, customer: Any) -> Any:
    ticket = services.ticket_create(
        actor=agent,
        subject="空调不制冷",
        description="描述",
        ticket_type="repair",
        customer=customer,
        assignee=agent,
    )
    services.ticket_reply(actor=agent, ticket=ticket, body="已安排")
    services.ticket_add_note(actor=agent, ticket=ticket, body="备注")
    services.ticket_assign(actor=agent, ticket=ticket, assignee=team_lead, reason="交接")
    services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department, instructions="上门")
    services.ticket_escalate(actor=agent, ticket=ticket, reason="加急")
    return ticket


def _pages(ticket: Any) -> list[str]:
    return [
        "/",
        "/tickets/?scope=mine",
        "/tickets/?scope=team&status=open&sla=soon",
        f"/tickets/{ticket.pk}/",
        "/tickets/new/",
        "/customers/",
        f"/customers/{ticket.customer_id}/",
    ]


def _asciify(*objects: Any) -> None:
    """Staff, teams, departments and customer with ASCII names, so any CJK left is interface text."""
    for i, obj in enumerate(objects):
        field = "display_name" if hasattr(obj, "display_name") else "name"
        setattr(obj, field, f"Name{i}")
        obj.save(update_fields=[field])


def test_english_interface_has_no_chinese(
    client: Any,
    agent: Any,
    team_lead: Any,
    department_user: Any,
    repair_department: Any,
    customer: Any,
    scene: Any,
) -> None:
    from kefu.tickets.models import Ticket

    _asciify(agent, team_lead, department_user, repair_department, agent.team, agent.department, customer)
    Ticket.objects.filter(pk=scene.pk).update(subject="Air conditioner", description="Broken")
    from kefu.tickets.models import SlaPolicy

    for policy in SlaPolicy.objects.all():  # shipped policies carry Chinese names: data, not interface
        SlaPolicy.objects.filter(pk=policy.pk).update(name=f"Policy {policy.pk}")
    from kefu.tickets.models import Dispatch, TicketEvent, TicketMessage

    TicketMessage.objects.update(body="text")
    Dispatch.objects.update(instructions="go")
    for event in TicketEvent.objects.all():  # reasons and names copied into history data
        event.data = {k: ("x" if isinstance(v, str) else v) for k, v in event.data.items()}
        event.save(update_fields=["data"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for user, pages in ((agent, _pages(scene)), (department_user, ["/department/", f"/tickets/{scene.pk}/"])):
        client.force_login(user)
        for url in pages:
            leaks = [t for t in visible_text(client.get(url).content.decode()) if CJK.search(t)]
            assert not leaks, f"{url}: {leaks[:10]}"


def test_chinese_interface_has_no_english(client: Any, agent: Any, department_user: Any, scene: Any) -> None:
    for user, pages in ((agent, _pages(scene)), (department_user, ["/department/", f"/tickets/{scene.pk}/"])):
        client.force_login(user)
        for url in pages:
            words = {w for t in visible_text(client.get(url).content.decode()) for w in WORD.findall(t)}
            assert not words - SHARED_WORDS, f"{url}: {sorted(words - SHARED_WORDS)}"


def test_login_page_in_both_languages(client: Any) -> None:
    assert "登录客服工作台" in client.get("/login/").content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "Sign in to the agent workspace" in client.get("/login/").content.decode()


def _po_entries(text: str) -> list[tuple[str, str, bool]]:
    """(msgid, all msgstr text, fuzzy) for each entry of a .po file; continuation lines joined."""
    entries = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        current = ""
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            key, _sep, rest = line.partition(" ")
            if key.startswith(("msgid", "msgstr", "msgctxt")):
                current = "msgstr" if key.startswith("msgstr") else key
                fields[current] = fields.get(current, "") + rest.strip().strip('"')
            elif line.startswith('"') and current:
                fields[current] += line.strip().strip('"')
        if "msgid" in fields:
            entries.append((fields["msgid"], fields.get("msgstr", ""), "#, fuzzy" in block))
    return entries


def _catalogues() -> list[Path]:
    """The project catalogue (LOCALE_PATHS) and those of apps that keep their own (kefu/<app>/locale)."""
    package = Path(settings.LOCALE_PATHS[0]).parent
    return sorted(package.glob("**/locale/en/LC_MESSAGES/django.po"))


def test_catalogue_is_complete() -> None:
    catalogues = _catalogues()
    assert Path(settings.LOCALE_PATHS[0]) / "en" / "LC_MESSAGES" / "django.po" in catalogues
    total = 0
    for po in catalogues:
        text = po.read_text(encoding="utf-8")
        assert po.with_suffix(".mo").stat().st_mtime >= po.stat().st_mtime - 1, f"run compilemessages ({po})"
        entries = _po_entries(text)[1:]  # the first entry is the header
        total += len(entries)
        for msgid, msgstr, fuzzy in entries:
            assert msgstr, f"untranslated in {po}: {msgid}"
            assert not fuzzy, f"fuzzy in {po}: {msgid}"
            assert not CJK.search(msgstr) or msgid == "简体中文", f"Chinese in translation of {msgid} ({po})"
    assert total > 100


_GETTEXT = {"_", "gettext", "gettext_lazy", "_lazy", "gettext_noop", "ngettext", "ngettext_lazy", "pgettext",
            "pgettext_lazy", "npgettext"}


def _marked_strings(path: Path) -> list[tuple[int, str, str]]:
    """(line, context, msgid) of each Chinese string a Python module marks for translation."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else (
            node.func.attr if isinstance(node.func, ast.Attribute) else "")
        if name not in _GETTEXT or not node.args:
            continue
        context = ""
        args = node.args
        if name.startswith(("pgettext", "npgettext")):
            if not (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)) or len(args) < 2:
                continue
            context, args = args[0].value, args[1:]
        first = args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and CJK.search(first.value):
            found.append((node.lineno, context, first.value))
    return found


def test_every_chinese_string_marked_in_the_code_has_its_english() -> None:
    """A string marked in the code but never extracted (makemessages not run) shows Chinese to English readers:
    every marked string must be in a catalogue, translated. (Templates are checked page by page above.)"""
    from django.utils import translation

    package = Path(settings.LOCALE_PATHS[0]).parent
    missing = []
    checked = 0
    for path in sorted(package.rglob("*.py")):
        parts = set(path.relative_to(package).parts)
        if parts & {"tests", "migrations"}:
            continue
        for line, context, msgid in _marked_strings(path):
            checked += 1
            with translation.override("en"):
                english = translation.pgettext(context, msgid) if context else translation.gettext(msgid)
            if english == msgid and msgid != "简体中文":  # a language's own name is shown as it writes itself
                missing.append(f"{path.relative_to(package)}:{line}: {msgid}")
    assert checked > 500
    assert not missing, "not in the English catalogue (run makemessages, translate, compilemessages):\n" + \
        "\n".join(missing)
