"""The knowledge base's fixed vocabularies."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    ZH = "zh-hans", _("中文")
    EN = "en", _("英文")


class ArticleStatus(models.TextChoices):
    """draft → review → published; a published article edited goes back to draft as a new version while the
    published text stays served until the new one is approved (see `Article.live_*`)."""

    DRAFT = "draft", _("草稿")
    REVIEW = "review", _("待审核")
    PUBLISHED = "published", _("已发布")
    ARCHIVED = "archived", _("已归档")


class Visibility(models.TextChoices):
    PUBLIC = "public", _("对外公开")  # the portal, the bot and agents
    INTERNAL = "internal", _("仅内部")  # agents only: never the portal nor the bot


class AskChannel(models.TextChoices):
    """Where a question was asked (the consultation library counts them per channel)."""

    PORTAL = "portal", _("自助服务门户")
    CHAT = "chat", _("网页/App 在线客服")
    WECHAT = "wechat", _("微信")
    PHONE = "phone", _("电话语音导航")
    AGENT = "agent", _("坐席辅助")
    CLI = "cli", _("命令行")
    API = "api", _("接口")


class GapSource(models.TextChoices):
    HANDOFF = "handoff", _("机器人无法回答")
    UNHELPFUL = "unhelpful", _("答案没有帮助")
    NO_RESULT = "no_result", _("搜索无结果")


class GapState(models.TextChoices):
    OPEN = "open", _("待处理")
    ANSWERED = "answered", _("已补充答案")
    DISMISSED = "dismissed", _("已忽略")


class SuspectState(models.TextChoices):
    OPEN = "open", _("待查看")
    KEPT = "kept", _("已确认无误")
    MOVED = "moved", _("已移到建议文章")


class IntakeState(models.TextChoices):
    SUBMITTED = "submitted", _("已提交")
    ACCEPTED = "accepted", _("已采用")
    REJECTED = "rejected", _("未采用")
