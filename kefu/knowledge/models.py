"""The knowledge base: articles in categories with their versions and example questions (the bot matches customers'
questions against them), feedback, the questions asked (the consultation library), the gaps the knowledge team
fills, the departments' intake submissions, and the bot's calibrated settings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kefu.core.models import TimeStampedModel
from kefu.knowledge.choices import (
    ArticleStatus,
    AskChannel,
    GapSource,
    GapState,
    IntakeState,
    Language,
    SuspectState,
    Visibility,
)


class Category(TimeStampedModel):
    """A shelf of articles; `slug` is the stable part of the portal's address."""

    name = models.CharField(_("名称"), max_length=60)
    name_en = models.CharField(_("英文名称"), max_length=60, blank=True)
    slug = models.SlugField(_("网址标识"), max_length=60, unique=True)
    description = models.CharField(_("说明"), max_length=200, blank=True)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children",
                               verbose_name=_("上级分类"))
    position = models.PositiveSmallIntegerField(_("排序"), default=0)
    is_public = models.BooleanField(_("在自助门户显示"), default=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("知识分类")
        verbose_name_plural = _("知识分类")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    def label(self, language: str) -> str:
        return self.name_en if language == Language.EN and self.name_en else self.name


class Article(TimeStampedModel):
    """One answer. Its text lives in versions: `latest` is what editors work on, `published` what customers, agents
    and the bot are served; editing a published article leaves the published text served until the new version is
    approved."""

    language = models.CharField(_("语言"), max_length=8, choices=Language.choices, default=Language.ZH)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, null=True, blank=True, related_name="articles",
                                 verbose_name=_("分类"))
    department = models.ForeignKey("accounts.Department", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="articles", verbose_name=_("负责部门"))
    visibility = models.CharField(_("可见范围"), max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    status = models.CharField(_("状态"), max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT,
                              db_index=True)
    title = models.CharField(_("标题"), max_length=200)  # the latest version's, for lists and search
    latest = models.ForeignKey("ArticleVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               verbose_name=_("最新版本"))
    published = models.ForeignKey("ArticleVersion", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+", verbose_name=_("发布版本"))
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("创建人"))
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("审核人"))
    review_note = models.CharField(_("审核意见"), max_length=500, blank=True)
    helpful_count = models.PositiveIntegerField(_("有帮助"), default=0)
    unhelpful_count = models.PositiveIntegerField(_("没帮助"), default=0)
    view_count = models.PositiveIntegerField(_("浏览次数"), default=0)
    version = models.PositiveIntegerField(_("版本"), default=1)  # optimistic concurrency of edits

    class Meta:
        verbose_name = _("知识文章")
        verbose_name_plural = _("知识文章")
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["status", "language", "visibility"], name="knowledge_article_served")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_live(self) -> bool:
        return self.published_id is not None and self.status != ArticleStatus.ARCHIVED

    @property
    def has_pending_changes(self) -> bool:
        return self.is_live and self.latest_id != self.published_id


SERVED = Q(published__isnull=False) & ~Q(status=ArticleStatus.ARCHIVED)  # articles whose published text is served


class ArticleVersion(models.Model):
    """One saved text of an article; numbered from 1, never changed once a newer one exists."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions", verbose_name=_("文章"))
    number = models.PositiveIntegerField(_("版本号"))
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("答案"))
    spoken = models.CharField(_("语音播报版"), max_length=500, blank=True)  # read to callers by the IVR
    tags = models.JSONField(_("标签"), default=list, blank=True)
    title_vector = models.BinaryField(_("标题向量"), blank=True, default=b"")  # the title is matched as a question too
    note = models.CharField(_("修改说明"), max_length=200, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+", verbose_name=_("作者"))
    created_at = models.DateTimeField(_("保存时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("文章版本")
        verbose_name_plural = _("文章版本")
        ordering = ["article", "-number"]
        constraints = [models.UniqueConstraint(fields=["article", "number"], name="knowledge_version_number")]

    def __str__(self) -> str:
        return f"{self.title} v{self.number}"


class ExampleQuestion(models.Model):
    """A way customers ask for an article's answer, with its sentence vector (float32 × 384, from
    kefu.knowledge.engine.embed) stored so the index is rebuilt without recomputing it."""

    version = models.ForeignKey(ArticleVersion, on_delete=models.CASCADE, related_name="questions",
                                verbose_name=_("文章版本"))
    text = models.CharField(_("问法"), max_length=300)
    vector = models.BinaryField(_("向量"), blank=True, default=b"")
    position = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("相似问法")
        verbose_name_plural = _("相似问法")
        ordering = ["version", "position", "id"]

    def __str__(self) -> str:
        return self.text


def _attachment_path(instance: Attachment, filename: str) -> str:
    return f"knowledge/{instance.article_id}/{filename}"


class Attachment(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="attachments",
                                verbose_name=_("文章"))
    file = models.FileField(_("文件"), upload_to=_attachment_path, max_length=300)
    name = models.CharField(_("文件名"), max_length=200)
    size = models.PositiveIntegerField(_("大小（字节）"), default=0)
    content_type = models.CharField(_("类型"), max_length=100, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("上传人"))
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")
        ordering = ["article", "id"]

    def __str__(self) -> str:
        return self.name


class Consultation(models.Model):
    """A question asked of the knowledge base (the bot, the portal's search, agent assist): the consultation library
    is these, counted per department, month and article."""

    asked_at = models.DateTimeField(_("提问时间"), auto_now_add=True, db_index=True)
    question = models.CharField(_("问题"), max_length=500)
    language = models.CharField(_("语言"), max_length=8, choices=Language.choices)
    channel = models.CharField(_("渠道"), max_length=10, choices=AskChannel.choices)
    article = models.ForeignKey(Article, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="consultations", verbose_name=_("匹配文章"))
    department = models.ForeignKey("accounts.Department", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("负责部门"))  # the article's, when asked
    confidence = models.FloatField(_("置信度"), default=0.0)
    answered = models.BooleanField(_("机器人已回答"), default=False)
    helpful = models.BooleanField(_("有帮助"), null=True, blank=True)  # the customer's rating of the answer
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", verbose_name=_("会话"))

    class Meta:
        verbose_name = _("咨询记录")
        verbose_name_plural = _("咨询记录")
        ordering = ["-asked_at", "-id"]
        indexes = [models.Index(fields=["department", "asked_at"], name="knowledge_consult_dept")]

    def __str__(self) -> str:
        return self.question


class Feedback(models.Model):
    """"Did this help?" on an article, from the portal, the bot or an agent."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback", verbose_name=_("文章"))
    helpful = models.BooleanField(_("有帮助"))
    comment = models.CharField(_("意见"), max_length=500, blank=True)
    channel = models.CharField(_("渠道"), max_length=10, choices=AskChannel.choices)
    consultation = models.ForeignKey(Consultation, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", verbose_name=_("咨询记录"))
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("文章反馈")
        verbose_name_plural = _("文章反馈")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.article_id} {'+' if self.helpful else '-'}"


class Gap(TimeStampedModel):
    """A question the knowledge base did not answer well, for the knowledge team; the same question asked again
    (same normalised text and language) counts on the same gap."""

    question = models.CharField(_("问题"), max_length=500)
    key = models.CharField(_("归一化问题"), max_length=500)
    language = models.CharField(_("语言"), max_length=8, choices=Language.choices)
    source = models.CharField(_("来源"), max_length=10, choices=GapSource.choices)
    state = models.CharField(_("处理状态"), max_length=10, choices=GapState.choices, default=GapState.OPEN,
                             db_index=True)
    times = models.PositiveIntegerField(_("出现次数"), default=1)
    last_asked_at = models.DateTimeField(_("最近提问"))
    best_article = models.ForeignKey(Article, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                     verbose_name=_("最接近的文章"))
    confidence = models.FloatField(_("置信度"), default=0.0)
    article = models.ForeignKey(Article, on_delete=models.SET_NULL, null=True, blank=True, related_name="gaps",
                                verbose_name=_("补充的文章"))
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("处理人"))

    class Meta:
        verbose_name = _("知识缺口")
        verbose_name_plural = _("知识缺口")
        ordering = ["-times", "-last_asked_at"]
        constraints = [models.UniqueConstraint(fields=["language", "key"], condition=Q(state="open"),
                                               name="knowledge_gap_open_once")]

    def __str__(self) -> str:
        return self.question


class Suspect(TimeStampedModel):
    """An example question calibration suspects of being filed under the wrong article (confident learning; see
    docs/knowledge-bot.md), with the article it seems to belong to: for the knowledge team to move it or to confirm
    it where it is. Each calibration brings the open ones up to date; a confirmed one is not suggested again while
    its text stays under that article."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="suspects",
                                verbose_name=_("所在文章"))
    question = models.CharField(_("例句"), max_length=500)
    suggested = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="+",
                                  verbose_name=_("疑似应属文章"))
    state = models.CharField(_("状态"), max_length=10, choices=SuspectState.choices, default=SuspectState.OPEN,
                             db_index=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("确认人"))

    class Meta:
        verbose_name = _("疑似归错的例句")
        verbose_name_plural = _("疑似归错的例句")
        ordering = ["article_id", "id"]
        constraints = [models.UniqueConstraint(fields=["article", "question"], name="knowledge_suspect_once")]

    def __str__(self) -> str:
        return self.question


class IntakeSubmission(TimeStampedModel):
    """The departments' intake form (信息采集表): a question customers ask a department, with its answer, which
    the knowledge team turns into an article."""

    department = models.ForeignKey("accounts.Department", on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("部门"))
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                     related_name="+", verbose_name=_("提交人"))
    language = models.CharField(_("语言"), max_length=8, choices=Language.choices, default=Language.ZH)
    category = models.ForeignKey(Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                 verbose_name=_("建议分类"))
    questions = models.TextField(_("客户的问法（每行一个）"))
    answer = models.TextField(_("答案"))
    note = models.CharField(_("补充说明"), max_length=500, blank=True)
    state = models.CharField(_("状态"), max_length=10, choices=IntakeState.choices, default=IntakeState.SUBMITTED,
                             db_index=True)
    article = models.ForeignKey(Article, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                verbose_name=_("生成的文章"))
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("处理人"))
    reply = models.CharField(_("处理意见"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("信息采集表")
        verbose_name_plural = _("信息采集表")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.questions.splitlines()[0] if self.questions else ""


class BotSettings(models.Model):
    """The answer bot's settings, one row: whether it answers, and the confidence threshold calibrated on the
    knowledge base itself so that its own answers meet `precision_target`."""

    enabled = models.BooleanField(_("启用机器人"), default=True)
    name = models.CharField(_("机器人名称"), max_length=30, default="小服")
    precision_target = models.FloatField(_("准确率目标"), default=0.90)  # a fraction
    threshold = models.FloatField(_("回答阈值"), default=0.5)
    calibrated_at = models.DateTimeField(_("校准时间"), null=True, blank=True)
    calibration = models.JSONField(_("校准结果"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("版本"), default=1)

    class Meta:
        verbose_name = _("机器人设置")
        verbose_name_plural = _("机器人设置")

    def __str__(self) -> str:
        return str(self.name)

    @property
    def null_score(self) -> float | None:
        """The "none of these" score calibration measured on this knowledge base, under which the threshold holds
        (None before the first calibration: the engine's constant)."""
        value = (self.calibration or {}).get("null_score")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    @classmethod
    def current(cls) -> BotSettings:
        found = cls.objects.order_by("pk").first()
        return found if found is not None else cls.objects.get_or_create(pk=1)[0]
