"""Fixtures of the portal's tests: a small knowledge base made here (public categories, served public articles in
both languages, and the articles customers must never see), the web chat channel, a work order with its customer's
phone, and a client with a fixed address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from kefu.knowledge.choices import Language, Visibility
from kefu.knowledge.models import Article, Attachment, Category
from kefu.knowledge.services.articles import article_archive
from kefu.knowledge.tests.factories import make_article, make_category


@dataclass
class Kb:
    account: Category
    billing: Category
    hidden: Category
    password: Article  # zh, public, served, with an attachment
    login: Article  # zh, public, served, same category
    refund: Article  # zh, public, served, billing
    password_en: Article  # en, public, served
    draft: Article
    internal: Article
    archived: Article
    in_hidden: Article  # served public, but its category is hidden from the portal
    file: Attachment
    draft_file: Attachment


@pytest.fixture
def kb(qa: Any, settings: Any, tmp_path: Any) -> Kb:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    account = make_category("账户与登录", slug="account", name_en="Account and sign-in", position=1)
    billing = make_category("费用与退款", slug="billing", name_en="Billing and refunds", position=2)
    hidden = make_category("内部流程", slug="internal-process", is_public=False, position=3)
    password = make_article(actor=qa, title="如何修改登录密码", category=account,
                            body="登录后进入“我的 - 设置 - 修改密码”。\n输入旧密码和新密码即可。\n\n"
                                 "忘记密码请点登录页的“忘记密码”，<b>用手机验证码</b>重设。",
                            questions=["怎么改密码", "密码忘了怎么办", "修改密码"])
    login = make_article(actor=qa, title="登录时提示账号被锁定", category=account,
                         body="连续输错密码 5 次账号会锁定 15 分钟，之后可以再试。",
                         questions=["账号被锁了", "登录不了"])
    refund = make_article(actor=qa, title="退款多久到账", category=billing,
                          body="退款审核通过后 1 到 3 个工作日原路退回。", questions=["退款什么时候到", "退钱要多久"])
    password_en = make_article(actor=qa, title="How do I change my password?", category=account,
                               language=Language.EN,
                               body="Sign in, open Me > Settings > Change password and enter the old and new one.",
                               questions=["change password", "forgot my password"])
    draft = make_article(actor=qa, title="尚未发布的草稿", category=account, body="草稿内容", publish=False,
                         questions=["草稿问题"])
    internal = make_article(actor=qa, title="内部：退款审批流程", category=billing, body="仅坐席可见",
                            visibility=Visibility.INTERNAL, questions=["退款审批"])
    archived = make_article(actor=qa, title="已归档的旧说明", category=account, body="旧内容", questions=["旧问题"])
    archived = article_archive(actor=qa, article=archived)
    in_hidden = make_article(actor=qa, title="隐藏分类里的文章", category=hidden, body="不在门户显示",
                             questions=["隐藏问题"])
    file = Attachment(article=password, name="修改密码.pdf", size=9, content_type="application/pdf")
    file.file.save("guide.pdf", ContentFile(b"%PDF-1.4\n"), save=True)
    draft_file = Attachment(article=draft, name="draft.pdf", size=9, content_type="application/pdf")
    draft_file.file.save("draft.pdf", ContentFile(b"%PDF-1.4\n"), save=True)
    return Kb(account=account, billing=billing, hidden=hidden, password=password, login=login, refund=refund,
              password_en=password_en, draft=draft, internal=internal, archived=archived, in_hidden=in_hidden,
              file=file, draft_file=draft_file)


@pytest.fixture
def chat(team: Any) -> Any:
    from kefu.conversations.tests.factories import ChannelFactory

    return ChannelFactory(chat=True, code="web", team=team)


@pytest.fixture
def visitor() -> Client:
    """An anonymous customer's browser, from one address."""
    return Client(REMOTE_ADDR="198.51.100.7")


@pytest.fixture
def order(agent: Any, customer: Any) -> Any:
    """A work order of `customer` (phone 13800138000) with a reply to the customer, an internal note and a
    status change."""
    from kefu.tickets import services

    ticket = services.ticket_create(actor=agent, subject="宽带无法上网", description="昨晚开始断网",
                                    customer=customer, assignee=agent)
    services.ticket_reply(actor=agent, ticket=ticket, body="您好，已安排师傅明天上午上门检查线路。")
    services.ticket_add_note(actor=agent, ticket=ticket, body="内部备注：客户脾气急，注意沟通")
    ticket.refresh_from_db()
    return ticket


@pytest.fixture
def article(qa: Any) -> Article:
    """One served public article (the feedback tests need no more)."""
    return make_article(actor=qa, title="如何修改登录密码", body="进入设置修改。", questions=["怎么改密码"])
