"""The blacklist (黑名单): numbers or prefixes refused with a reason until an optional expiry, kept by managers and
administrators (audited), and the PBX told to reject those callers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.telephony.ivr_selectors import NextStepIn, blacklist_match, ivr_next_step
from kefu.telephony.ivr_services import BlacklistData, blacklist_add, blacklist_remove
from kefu.telephony.models import BlacklistEntry
from kefu.telephony.tests.ivr_world import HOTLINE_NUMBER, MONDAY_10, build_hotline

pytestmark = pytest.mark.django_db


def test_a_number_in_any_writing_and_a_prefix_are_matched(admin_user: Any) -> None:
    blacklist_add(actor=admin_user, data=BlacklistData(number="138-0013-8000", reason="骚扰电话"))
    blacklist_add(actor=admin_user, data=BlacklistData(number="170", reason="诈骗号段", is_prefix=True))
    assert blacklist_match("+86 138 0013 8000").reason == "骚扰电话"
    assert blacklist_match("17012345678").reason == "诈骗号段"
    assert blacklist_match("13800138001") is None
    assert blacklist_match("") is None


def test_an_entry_expires(admin_user: Any) -> None:
    blacklist_add(actor=admin_user, data=BlacklistData(number="13900000000", reason="一周内反复骚扰",
                                                       expires_at=MONDAY_10 + timedelta(days=7)), now=MONDAY_10)
    assert blacklist_match("13900000000", now=MONDAY_10 + timedelta(days=6)) is not None
    assert blacklist_match("13900000000", now=MONDAY_10 + timedelta(days=7)) is None


@pytest.mark.parametrize(("data", "field"), [
    (BlacklistData(number="abc", reason="x"), "number"),
    (BlacklistData(number="12", reason="x", is_prefix=True), "number"),
    (BlacklistData(number="13900000000", reason=""), "reason"),
    (BlacklistData(number="13900000000", reason="x", expires_at=MONDAY_10 - timedelta(hours=1)), "expires_at"),
])
def test_bad_entries_are_refused_naming_the_field(admin_user: Any, data: BlacklistData, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        blacklist_add(actor=admin_user, data=data, now=MONDAY_10)
    assert refused.value.details["field"] == field
    assert not BlacklistEntry.objects.exists()


def test_the_same_number_twice_is_refused(admin_user: Any) -> None:
    blacklist_add(actor=admin_user, data=BlacklistData(number="13900000000", reason="骚扰"))
    with pytest.raises(ValidationFailed):
        blacklist_add(actor=admin_user, data=BlacklistData(number="+8613900000000", reason="骚扰"))


def test_managers_and_administrators_keep_it_audited(admin_user: Any, manager: Any, agent: Any,
                                                     team_lead: Any) -> None:
    entry = blacklist_add(actor=manager, data=BlacklistData(number="13900000000", reason="骚扰"))
    for outsider in (agent, team_lead):
        with pytest.raises(PermissionDenied):
            blacklist_add(actor=outsider, data=BlacklistData(number="13900000001", reason="x"))
        with pytest.raises(PermissionDenied):
            blacklist_remove(actor=outsider, entry=entry)
    blacklist_remove(actor=admin_user, entry=entry)
    actions = list(AuditLog.objects.filter(object_type="telephony.blacklistentry").order_by("id")
                   .values_list("action", "actor__username"))
    assert actions == [("blacklist.added", "manager"), ("blacklist.removed", "admin")]


def test_the_pbx_is_told_to_reject_a_blacklisted_caller(admin_user: Any, team: Any) -> None:
    build_hotline(admin_user, team)
    blacklist_add(actor=admin_user, data=BlacklistData(number="13900000000", reason="骚扰"))
    step = ivr_next_step(NextStepIn(call_id="c", caller="13900000000", called=HOTLINE_NUMBER), now=MONDAY_10)
    assert (step.action, step.reason, step.prompt) == ("reject", "blacklisted", "")
    other = ivr_next_step(NextStepIn(call_id="c", caller="13900000001", called=HOTLINE_NUMBER), now=MONDAY_10)
    assert other.action == "play"


def test_the_blacklist_page(client: Client, manager: Any, agent: Any) -> None:
    client.force_login(manager)
    added = client.post("/admin/blacklist/", {"number": "13900000000", "reason": "反复骚扰", "is_prefix": ""})
    assert added.status_code == 302
    page = client.get("/admin/blacklist/").content.decode()
    assert "13900000000" in page
    assert "反复骚扰" in page
    refused = client.post("/admin/blacklist/", {"number": "x", "reason": ""})
    assert refused.status_code == 422
    assert "data-testid=\"error-number\"" in refused.content.decode()
    entry = BlacklistEntry.objects.get()
    assert client.post(f"/admin/blacklist/{entry.pk}/delete/").status_code == 302
    assert not BlacklistEntry.objects.exists()
    client.force_login(agent)
    assert client.get("/admin/blacklist/").status_code == 403
