""""这篇文章对您有帮助吗？": recorded with channel portal, without JavaScript (POST-redirect-GET) and with HTMX,
CSRF-protected, rate-limited per client address."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kefu.knowledge.models import Article, Feedback

pytestmark = pytest.mark.django_db


def test_helpful_without_javascript_redirects_back(article: Any, visitor: Client) -> None:
    answer = visitor.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "yes"})
    assert answer.status_code == 302
    assert answer["Location"] == f"/help/zh/a/{article.pk}/?feedback=thanks#feedback"
    feedback = Feedback.objects.get()
    assert feedback.helpful is True
    assert feedback.channel == "portal"
    assert feedback.article_id == article.pk
    assert Article.objects.get(pk=article.pk).helpful_count == 1
    page = visitor.get(answer["Location"])
    assert "感谢您的反馈！" in page.content.decode()
    assert Article.objects.get(pk=article.pk).view_count == 0  # coming back is not another reading


def test_not_helpful_with_a_comment(article: Any, visitor: Client) -> None:
    answer = visitor.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "no", "comment": "  没说清楚在哪里  "})
    assert answer.status_code == 302
    assert "feedback=sorry" in answer["Location"]
    feedback = Feedback.objects.get()
    assert feedback.helpful is False
    assert feedback.comment == "没说清楚在哪里"
    assert Article.objects.get(pk=article.pk).unhelpful_count == 1


def test_with_htmx_the_block_is_swapped(article: Any, visitor: Client) -> None:
    answer = visitor.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "yes"}, headers={"HX-Request": "true"})
    text = answer.content.decode()
    assert answer.status_code == 200
    assert text.startswith('<section class="feedback" id="feedback"')
    assert "感谢您的反馈！" in text
    assert "<html" not in text
    assert Feedback.objects.count() == 1


def test_bad_feedback_names_the_problem_and_writes_nothing(article: Any, visitor: Client) -> None:
    missing = visitor.post(f"/help/zh/a/{article.pk}/feedback", {})
    assert missing.status_code == 400
    assert "请选择是否有帮助" in missing.content.decode()
    too_long = visitor.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "no", "comment": "长" * 501})
    assert too_long.status_code == 400
    assert "意见最多 500 个字" in too_long.content.decode()
    assert visitor.post(f"/help/en/a/{article.pk}/feedback", {"helpful": "yes"}).status_code == 404  # zh article
    assert visitor.post("/help/zh/a/999999/feedback", {"helpful": "yes"}).status_code == 404
    assert visitor.get(f"/help/zh/a/{article.pk}/feedback").status_code == 405
    assert not Feedback.objects.exists()


def test_feedback_needs_the_csrf_token(article: Any) -> None:
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.8")
    assert browser.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "yes"}).status_code == 403
    page = browser.get(f"/help/zh/a/{article.pk}/")
    token = page.cookies["csrftoken"].value
    answer = browser.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "yes", "csrfmiddlewaretoken": token})
    assert answer.status_code == 302
    assert Feedback.objects.count() == 1


def test_feedback_is_rate_limited_per_address(article: Any, settings: Any) -> None:
    settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, "portal.feedback": "2/10m"}
    one = Client(REMOTE_ADDR="203.0.113.20")
    assert [one.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "yes"}).status_code
            for _ in range(2)] == [302, 302]
    refused = one.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "yes"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert "提交过于频繁" in refused.content.decode()
    swapped = one.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "yes"}, headers={"HX-Request": "true"})
    assert "提交过于频繁" in swapped.content.decode()
    assert Feedback.objects.count() == 2
    other = Client(REMOTE_ADDR="203.0.113.21")
    assert other.post(f"/help/zh/a/{article.pk}/feedback", {"helpful": "no"}).status_code == 302
