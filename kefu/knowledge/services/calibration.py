"""The bot's confidence threshold, calibrated on the knowledge base itself: cross-validation over the public
articles' example questions picks the lowest threshold at which the bot's own answers meet the precision target
(and the "none of these" score it holds under). The same pass lists the example questions that seem filed under
the wrong article (kefu.knowledge.services.suspects)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.actors import person, system_actor
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.policy import can
from kefu.knowledge.models import BotSettings
from kefu.knowledge.permissions import KnowledgeRight

CALIBRATOR = system_actor("kb_calibration", gettext_lazy("系统：机器人校准"))


def bot_calibrate(*, actor: Any = None) -> BotSettings:
    """Measure and store the threshold for the current public articles. Runs outside the request (a task after
    publishing or importing) because it builds one index per fold."""
    from kefu.knowledge.engine import calibrate
    from kefu.knowledge.index import read
    from kefu.knowledge.services.suspects import suspects_store

    started_at = timezone.now()
    articles, indexed, vectors = read("public")  # calibration builds its own indexes, one per fold
    settings_row = BotSettings.current()
    result = calibrate(indexed, vectors, precision_target=settings_row.precision_target)
    titles = {(a.id, a.title) for a in articles.values()}  # a title is searched too, but is no example
    entries = [(e.article_id, e.text) for e in indexed]
    found = [(*entries[i], suggested) for i, suggested in zip(result.suspects, result.suspect_articles, strict=True)
             if entries[i] not in titles and suggested in articles]
    with transaction.atomic():
        open_suspects = suspects_store(found=found, served=set(entries) - titles)
        locked = BotSettings.objects.select_for_update().get(pk=settings_row.pk)
        locked.threshold = float(result.threshold)
        locked.calibrated_at = timezone.now()
        locked.calibration = {
            "threshold": round(float(result.threshold), 4), "precision_target": result.precision_target,
            "precision": round(float(result.precision), 4), "answered_share": round(float(result.answered_share), 4),
            "top1": round(float(result.top1), 4), "questions": result.questions, "articles": result.articles,
            "folds": result.folds, "noise_rate": round(float(result.noise_rate), 4),
            "suspects": len(found), "open_suspects": open_suspects, "null_score": float(result.null_score),
            "unknown_refused": round(float(result.unknown_refused), 4),
            "started_at": started_at.isoformat(timespec="microseconds")}
        locked.version = F("version") + 1
        locked.save()
        locked.refresh_from_db()
        audit_record(actor=person(actor) or None, action="bot.calibrated", obj=locked,
                     summary=f"{locked.threshold:.3f}", data=locked.calibration)
    return locked


PRECISION_MIN, PRECISION_MAX = 0.5, 0.99
NAME_MAX = 30


@dataclass(frozen=True)
class BotSettingsData:
    enabled: bool
    name: str
    precision_target: float  # a fraction


def bot_settings_update(*, actor: Any, data: BotSettingsData, expected_version: int) -> BotSettings:
    """Switch the bot on or off, rename it, or change its precision target (which calibrates it again after
    commit). A stale `expected_version` is a conflict; each change is audited before and after."""
    if not can(actor, KnowledgeRight.BOT_MANAGE):
        raise PermissionDenied(_("没有权限修改机器人设置"))
    name = " ".join(str(data.name or "").split())
    if not name:
        raise ValidationFailed(_("机器人名称：请填写"), details={"field": "name"})
    if len(name) > NAME_MAX:
        raise ValidationFailed(_("机器人名称：最多 %(n)s 个字") % {"n": NAME_MAX}, details={"field": "name"})
    target = data.precision_target
    if not isinstance(target, int | float) or not PRECISION_MIN <= float(target) <= PRECISION_MAX:
        raise ValidationFailed(_("准确率目标：请填写 %(a)s–%(b)s 之间的百分数") % {
            "a": round(PRECISION_MIN * 100), "b": round(PRECISION_MAX * 100)}, details={"field": "precision_target"})
    with transaction.atomic():
        current = BotSettings.current()
        locked = BotSettings.objects.select_for_update().get(pk=current.pk)
        if locked.version != expected_version:
            raise Conflict(_("机器人设置已被他人修改，请刷新后再保存"),
                           details={"field": "version", "current_version": locked.version})
        before = {"enabled": locked.enabled, "name": locked.name, "precision_target": locked.precision_target}
        after = {"enabled": bool(data.enabled), "name": name, "precision_target": round(float(target), 4)}
        if before == after:
            return locked
        locked.enabled, locked.name, locked.precision_target = after["enabled"], name, after["precision_target"]
        locked.version = F("version") + 1
        locked.save()
        locked.refresh_from_db()
        audit_record(actor=person(actor), action="bot.settings_changed", obj=locked, summary=name,
                     data={"before": before, "after": after})
        if before["precision_target"] != after["precision_target"]:
            from kefu.knowledge.tasks import recalibrate_soon

            transaction.on_commit(recalibrate_soon, robust=True)
    return locked


def bot_calibrate_soon(*, actor: Any) -> None:
    """Ask for a calibration now (the worker runs it): after a change the knowledge team wants measured at once."""
    if not can(actor, KnowledgeRight.BOT_MANAGE):
        raise PermissionDenied(_("没有权限校准机器人"))
    from kefu.knowledge.tasks import recalibrate_soon

    audit_record(actor=person(actor), action="bot.calibration_requested", obj=BotSettings.current(), summary="")
    transaction.on_commit(recalibrate_soon, robust=True)
