"""The answer bot's page (机器人设置: switched on or off, its name and precision target, what calibration measured)
and the suspected misfiled example questions (疑似归错): found by calibration, moved to the suggested article or
confirmed where they are, and kept up to date by the next calibration."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.core.audit import AuditLog
from kefu.core.errors import Conflict
from kefu.knowledge.choices import ArticleStatus, SuspectState
from kefu.knowledge.models import Article, BotSettings, ExampleQuestion, Suspect
from kefu.knowledge.services.articles import article_publish
from kefu.knowledge.services.calibration import bot_calibrate
from kefu.knowledge.services.suspects import suspect_keep, suspect_move, suspects_store
from kefu.knowledge.tests.factories import make_article

pytestmark = pytest.mark.django_db

MISFILED = "寄到偏远地区要加邮费吗"  # a shipping question filed under returns
SHOP = {
    "退货怎么办理": ["怎么退货？", "我想退货退款", "商品不满意可以退吗", "收到的东西坏了能退吗", MISFILED],
    "运费说明": ["运费怎么算？", "邮费多少钱", "包邮吗", "偏远地区运费贵吗"],
    "发货时间": ["什么时候发货？", "几天能发货", "下单后多久发出", "今天下单明天能发吗"],
    "修改收货地址": ["怎么修改收货地址？", "地址填错了想改一下", "能换个收货地址吗", "下单后还能改地址吗"],
    "开发票": ["发票怎么开？", "我需要开增值税发票", "可以开发票吗", "电子发票在哪里下载"],
}


@pytest.fixture
def shop(qa: Any) -> dict[str, Article]:
    """Five published articles, one example filed under the wrong one; calibrated once."""
    made = {title: make_article(actor=qa, title=title, body=f"{title}：详见说明。", questions=questions)
            for title, questions in SHOP.items()}
    bot_calibrate()
    return made


def _questions(article: Article) -> list[str]:
    article.refresh_from_db()
    return list(ExampleQuestion.objects.filter(version=article.latest).values_list("text", flat=True))


# --- the bot's page ------------------------------------------------------------------------------------------


def test_the_page_shows_what_calibration_measured(login: Any, manager: Any, shop: dict[str, Article]) -> None:
    page = login(manager).get("/kb/bot/")
    assert page.status_code == 200
    html = page.content.decode()
    bot = BotSettings.current()
    assert f"{bot.threshold:.3f}" in html
    assert f"{bot.calibration['answered_share'] * 100:.1f}%" in html
    assert f"{bot.calibration['unknown_refused'] * 100:.1f}%" in html
    assert bot.calibration["open_suspects"] >= 1
    assert "/kb/suspects/" in html


def test_before_any_calibration_the_page_says_so(login: Any, manager: Any) -> None:
    html = login(manager).get("/kb/bot/").content.decode()
    assert "还没有校准过" in html


def test_settings_are_saved_audited_and_a_new_target_recalibrates(login: Any, manager: Any, shop: dict[str, Article],
                                                                   django_capture_on_commit_callbacks: Any) -> None:
    client = login(manager)
    bot = BotSettings.current()
    before = bot.calibrated_at
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post("/kb/bot/", {"name": "小智", "precision_target": "95", "version": bot.version})
    assert answer.status_code == 302
    bot.refresh_from_db()
    assert (bot.enabled, bot.name, bot.precision_target) == (False, "小智", 0.95)  # the box was left unticked
    assert bot.calibration["precision_target"] == 0.95
    assert bot.calibrated_at > before
    entry = AuditLog.objects.filter(action="bot.settings_changed").get()
    assert entry.data["before"]["name"] == "小服"
    assert entry.data["after"] == {"enabled": False, "name": "小智", "precision_target": 0.95}


@pytest.mark.parametrize(("form", "field"), [
    ({"name": "", "precision_target": "90"}, "name"),
    ({"name": "小" * 31, "precision_target": "90"}, "name"),
    ({"name": "小服", "precision_target": "九十"}, "precision_target"),
    ({"name": "小服", "precision_target": "100"}, "precision_target"),
    ({"name": "小服", "precision_target": "30"}, "precision_target"),
])
def test_bad_settings_name_their_field_and_change_nothing(login: Any, manager: Any, form: dict[str, str],
                                                          field: str) -> None:
    bot = BotSettings.current()
    answer = login(manager).post("/kb/bot/", {**form, "enabled": "on", "version": bot.version})
    assert answer.status_code == 422
    assert answer.context["field"] == field
    assert 'aria-invalid="true"' in answer.content.decode()
    again = BotSettings.current()
    assert (again.name, again.precision_target, again.version) == (bot.name, bot.precision_target, bot.version)


def test_a_stale_save_is_a_conflict(login: Any, manager: Any) -> None:
    bot = BotSettings.current()
    client = login(manager)
    assert client.post("/kb/bot/", {"enabled": "on", "name": "小一", "precision_target": "90",
                                    "version": bot.version}).status_code == 302
    stale = client.post("/kb/bot/", {"enabled": "on", "name": "小二", "precision_target": "90",
                                     "version": bot.version})
    assert stale.status_code == 409
    assert "已被他人修改" in stale.content.decode()
    assert BotSettings.current().name == "小一"


def test_calibrate_now_runs_the_calibration(login: Any, manager: Any, qa: Any,
                                            django_capture_on_commit_callbacks: Any) -> None:
    make_article(actor=qa, title="开发票", body="在订单里申请", questions=SHOP["开发票"])
    assert BotSettings.current().calibrated_at is None
    with django_capture_on_commit_callbacks(execute=True):
        assert login(manager).post("/kb/bot/calibrate/").status_code == 302
    assert BotSettings.current().calibrated_at is not None
    assert AuditLog.objects.filter(action="bot.calibration_requested").exists()


# --- suspected misfiled example questions ---------------------------------------------------------------------


def test_calibration_lists_the_misfiled_example_with_where_it_seems_to_belong(shop: dict[str, Article]) -> None:
    suspect = Suspect.objects.get(question=MISFILED)
    assert (suspect.article, suspect.suggested, suspect.state) == (shop["退货怎么办理"], shop["运费说明"],
                                                                  SuspectState.OPEN)
    assert not Suspect.objects.filter(question__in=list(SHOP)).exists()  # titles are searched, never listed
    bot_calibrate()  # again: the same list, not a second row
    assert Suspect.objects.filter(question=MISFILED).count() == 1


def test_moving_drafts_both_articles_and_is_not_suggested_again(login: Any, qa: Any,
                                                                shop: dict[str, Article]) -> None:
    suspect = Suspect.objects.get(question=MISFILED)
    client = login(qa)
    assert MISFILED in client.get("/kb/suspects/").content.decode()
    assert client.post(f"/kb/suspects/{suspect.pk}/", {"action": "move"}).status_code == 302
    returns, shipping = shop["退货怎么办理"], shop["运费说明"]
    assert MISFILED not in _questions(returns)
    assert MISFILED in _questions(shipping)
    for article in (returns, shipping):
        assert article.status == ArticleStatus.DRAFT  # reviewed and published as any edit
        assert article.latest != article.published
    suspect.refresh_from_db()
    assert (suspect.state, suspect.decided_by) == (SuspectState.MOVED, qa)
    assert AuditLog.objects.filter(action="kb.suspect_moved").exists()
    bot_calibrate()  # still served under returns until published: not suggested again
    assert not Suspect.objects.filter(question=MISFILED, state=SuspectState.OPEN).exists()
    for article in (returns, shipping):
        article_publish(actor=qa, article=article)
    bot_calibrate()  # published: the row has done its work
    assert not Suspect.objects.filter(article=returns, question=MISFILED).exists()


def test_confirming_keeps_the_example_and_it_stays_confirmed(login: Any, qa: Any, shop: dict[str, Article]) -> None:
    suspect = Suspect.objects.get(question=MISFILED)
    assert login(qa).post(f"/kb/suspects/{suspect.pk}/", {"action": "keep"}).status_code == 302
    assert MISFILED in _questions(shop["退货怎么办理"])
    bot_calibrate()
    suspect.refresh_from_db()
    assert suspect.state == SuspectState.KEPT
    page = login(qa).get("/kb/suspects/?state=kept").content.decode()
    assert MISFILED in page


def test_a_suspect_is_handled_once(qa: Any, shop: dict[str, Article]) -> None:
    suspect = Suspect.objects.get(question=MISFILED)
    suspect_keep(actor=qa, suspect=suspect)
    with pytest.raises(Conflict):
        suspect_move(actor=qa, suspect=suspect)


def test_moving_a_question_already_edited_away_is_refused(qa: Any, shop: dict[str, Article]) -> None:
    from kefu.knowledge.services.articles import ArticleData, article_update

    returns = shop["退货怎么办理"]
    article_update(actor=qa, article=returns, expected_version=None, data=ArticleData(
        title=returns.latest.title, body=returns.latest.body, questions=SHOP["退货怎么办理"][:4]))
    with pytest.raises(Conflict, match="已经不在"):
        suspect_move(actor=qa, suspect=Suspect.objects.get(question=MISFILED))
    assert _questions(shop["运费说明"]) == SHOP["运费说明"]  # nothing written


def test_a_bad_action_or_unknown_suspect_changes_nothing(login: Any, qa: Any, shop: dict[str, Article]) -> None:
    suspect = Suspect.objects.get(question=MISFILED)
    client = login(qa)
    answer = client.post(f"/kb/suspects/{suspect.pk}/", {"action": "delete"}, follow=True)
    assert "操作：无效的值" in answer.content.decode()
    assert client.post("/kb/suspects/999999/", {"action": "keep"}).status_code == 404
    suspect.refresh_from_db()
    assert suspect.state == SuspectState.OPEN


def test_an_article_deleted_during_calibration_is_left_out(shop: dict[str, Article]) -> None:
    returns, shipping = shop["退货怎么办理"], shop["运费说明"]
    gone = shipping.pk + 1000
    assert suspects_store(found=[(returns.pk, "怎么退货？", gone)], served={(returns.pk, "怎么退货？")}) == 0
    assert not Suspect.objects.filter(suggested_id=gone).exists()


def test_calibration_requests_coalesce(qa: Any, django_capture_on_commit_callbacks: Any) -> None:
    """A request made before a calibration started is covered by it: the task does nothing."""
    from kefu.knowledge.tasks import recalibrate_task

    make_article(actor=qa, title="开发票", body="在订单里申请", questions=SHOP["开发票"])
    early = "2000-01-01T00:00:00.000000+00:00"
    bot_calibrate()
    done = BotSettings.current()
    recalibrate_task.call_local(early)
    assert BotSettings.current().version == done.version  # covered: not calibrated again
    recalibrate_task.call_local("2999-01-01T00:00:00.000000+00:00")  # asked after it started: calibrated again
    assert BotSettings.current().version == done.version + 1


def test_the_suspects_come_thirty_a_page(login: Any, qa: Any) -> None:
    here = make_article(actor=qa, title="退货怎么办理", body="七天无理由。", questions=["怎么退货？"])
    there = make_article(actor=qa, title="运费说明", body="满 99 元包邮。", questions=["运费怎么算？"])
    Suspect.objects.bulk_create([Suspect(article=here, question=f"问题 {n:02d}", suggested=there) for n in range(31)])
    client = login(qa)
    first = client.get("/kb/suspects/?state=nonsense&page=x")  # unknown values: the first tab, the first page
    assert (first.context["state"], first.context["page"].number, len(first.context["page"].object_list)) == (
        SuspectState.OPEN, 1, 30)
    assert "?state=open&amp;page=2" in first.content.decode()
    assert len(client.get("/kb/suspects/?page=2").context["page"].object_list) == 1
