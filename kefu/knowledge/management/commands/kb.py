"""`kefu kb …`: the knowledge base from the command line (docs/knowledge-import.md).

    kefu kb import FILE [--dry-run] [--as USER]   .csv or .xlsx: question, answer, category, language
    kefu kb export FILE                           the same format, one row per example question
    kefu kb calibrate                             calibrate the bot's threshold now and print it
    kefu kb stats                                 articles, questions and the bot's settings

An import is all or nothing: every bad row is printed (row, column, reason) and nothing is written. Progress goes
to stderr. Exit status 2: a bad file, a bad option or a refused right; nothing written then.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor
from kefu.core.errors import ApplicationError

CLI = system_actor("cli", gettext_lazy("系统：命令行"))


def acting_user(username: str | None) -> Any:
    """The CLI's system actor, or the active user named by --as (the audit rows name them)."""
    if not username:
        return CLI
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise CommandError(f"--as: no active user '{username}'", returncode=2)
    return user


class Command(BaseCommand):
    help = "Knowledge base: import / export (.csv or .xlsx), calibrate the bot, statistics."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        importing = sub.add_parser(
            "import", help="import FILE (.csv or .xlsx; columns question, answer, category, language); all or "
                           "nothing, every bad row reported, exit 2 on a bad file")
        importing.add_argument("file")
        importing.add_argument("--dry-run", action="store_true", help="check the file only, write nothing")
        importing.add_argument("--as", dest="as_user", metavar="USER",
                               help="act as this user (needs the kb.publish right; default: the system)")
        importing.add_argument("--no-calibrate", action="store_true",
                               help="leave the calibration to the worker (it runs after the next publication)")
        exporting = sub.add_parser("export", help="export the served articles to FILE (.csv or .xlsx)")
        exporting.add_argument("file")
        exporting.add_argument("--as", dest="as_user", metavar="USER", help="act as this user (kb.view)")
        sub.add_parser("calibrate", help="calibrate the bot's confidence threshold now and print it")
        sub.add_parser("stats", help="articles, example questions, gaps and the bot's threshold")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, "_" + options["action"])(options)
        except ApplicationError as exc:
            field = (exc.details or {}).get("field")
            raise CommandError(f"{field}: {exc.message}" if field else exc.message, returncode=2) from None

    def _progress(self, message: str) -> None:
        self.stderr.write(message)
        self.stderr.flush()

    def _import(self, options: dict[str, Any]) -> None:
        from kefu.core.tabular import ImportRejected
        from kefu.knowledge.services.importing import format_report, knowledge_import, max_import_bytes

        path = Path(options["file"])
        if path.suffix.lower() not in (".csv", ".xlsx"):
            raise CommandError(f"{path.name}: " + _("文件必须是 .csv 或 .xlsx 格式"), returncode=2)
        actor = acting_user(options.get("as_user"))
        try:
            if path.stat().st_size > max_import_bytes():
                raise CommandError(f"{path.name}: " + _("文件太大，请拆分后分批导入"), returncode=2)
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(_("无法读取文件") + f" {path}: {exc.strerror or exc}", returncode=2) from None
        try:
            report = knowledge_import(actor=actor, data=data, filename=path.name, dry_run=options["dry_run"],
                                      progress=self._progress, calibrate=not options["no_calibrate"])
        except ImportRejected as exc:
            if any(error.row for error in exc.report.errors):  # the rows; a whole-file refusal is the message
                self.stderr.write(format_report(exc.report))  # type: ignore[arg-type]
            raise CommandError(exc.message, returncode=2) from None
        self.stdout.write(format_report(report))

    def _export(self, options: dict[str, Any]) -> None:
        from kefu.knowledge.services.importing import knowledge_export

        out = Path(options["file"])
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("csv", "xlsx"):
            raise CommandError(f"{out.name}: " + _("文件必须是 .csv 或 .xlsx 格式"), returncode=2)
        actor = acting_user(options.get("as_user"))
        # written beside the target and renamed: a failed export never leaves a truncated file behind
        try:
            fd, tmp = tempfile.mkstemp(prefix=".kb-export-", dir=str(out.parent) if str(out.parent) else ".")
        except OSError as exc:
            raise CommandError(_("无法写入") + f" {out.parent}: {exc.strerror or exc}", returncode=2) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                result = knowledge_export(actor=actor, out=handle, fmt=fmt)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.stdout.write(_("已导出 %(a)s 篇文章、%(n)s 个问法到 %(file)s") % {"a": result.articles, "n": result.rows,
                                                                     "file": out})

    def _calibrate(self, options: dict[str, Any]) -> None:
        from kefu.knowledge.services.calibration import bot_calibrate
        from kefu.knowledge.services.importing import calibration_line

        self._progress(_("正在校准…"))
        settings_row = bot_calibrate(actor=CLI)
        self.stdout.write(calibration_line(settings_row.calibration))

    def _stats(self, options: dict[str, Any]) -> None:
        from django.db.models import Count

        from kefu.knowledge.choices import GapState
        from kefu.knowledge.models import SERVED, Article, BotSettings, ExampleQuestion, Gap
        from kefu.knowledge.services.importing import calibration_line

        served = Article.objects.filter(SERVED)
        by_language = dict(served.values_list("language").annotate(n=Count("id")).order_by())
        questions = ExampleQuestion.objects.filter(version_id__in=served.values("published_id")).count()
        settings_row = BotSettings.current()
        lines = [
            _("已发布文章：%(n)s 篇（中文 %(zh)s，英文 %(en)s）") % {"n": sum(by_language.values()),
                                                          "zh": by_language.get("zh-hans", 0),
                                                          "en": by_language.get("en", 0)},
            _("问法：%(n)s 个") % {"n": questions},
            _("草稿与待审核：%(n)s 篇") % {"n": Article.objects.filter(published__isnull=True)
                                        .exclude(status="archived").count()},
            _("待处理的知识缺口：%(n)s 个") % {"n": Gap.objects.filter(state=GapState.OPEN).count()},
            (_("机器人：已启用") if settings_row.enabled else _("机器人：已停用"))
            + _("，回答阈值 %(t).3f") % {"t": settings_row.threshold},
        ]
        if settings_row.calibration:
            lines.append(calibration_line(settings_row.calibration))
        self.stdout.write("\n".join(lines))

