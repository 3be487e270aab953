"""`kefu bot ask`: ask the answer bot from the command line (docs/knowledge-import.md).

    kefu bot ask TEXT [--json] [--language zh-hans|en] [--record]
    kefu bot ask --file QUESTIONS.txt --json

With --json, one line per question, in order: {"question", "article_id", "answer", "confidence", "handoff"}, where
`answer` is the best article's answer even when `handoff` is true (null article and "" when nothing is served).
A file holds one question a line (UTF-8, or GBK); empty lines are skipped; each line's language is detected.
Questions are not recorded in the consultation library unless --record (channel "cli"). Exit status 2: a missing
or unreadable file, an empty or too long question (named by its line), a bad option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext as _

from kefu.core.errors import ApplicationError

JSON_KEYS = ("question", "article_id", "answer", "confidence", "handoff")


def reply_line(reply: Any) -> dict[str, Any]:
    """The JSON line of the CLI contract: exactly these keys, in this order."""
    return {"question": reply.question, "article_id": reply.article_id, "answer": reply.answer,
            "confidence": round(float(reply.confidence), 4), "handoff": bool(reply.handoff)}


class Command(BaseCommand):
    help = "Ask the answer bot: kefu bot ask TEXT [--json] | kefu bot ask --file QUESTIONS.txt --json"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ask = sub.add_parser(
            "ask", help="answer a question, or each line of --file (empty lines are skipped; language detected "
                        "per line)")
        ask.add_argument("text", nargs="?", help="the question (omit with --file)")
        ask.add_argument("--file", help="a UTF-8 (or GBK) text file, one question a line; empty lines skipped")
        ask.add_argument("--json", action="store_true",
                         help='one JSON line per question: {"question", "article_id", "answer", "confidence", '
                              '"handoff"}')
        ask.add_argument("--language", choices=["zh-hans", "en"],
                         help="the questions' language (default: detected for each question)")
        ask.add_argument("--record", action="store_true",
                         help="record the questions in the consultation library (channel cli; gaps for those "
                              "the bot cannot answer)")

    def handle(self, *args: Any, **options: Any) -> None:
        questions = self._questions(options)
        self._utf8()
        from kefu.knowledge.services.bot import bot_ask

        for number, question in questions:
            try:
                reply = bot_ask(question=question, channel="cli", language=options["language"],
                                record=options["record"])
            except ApplicationError as exc:  # checked beforehand; a refusal here names its line all the same
                raise CommandError(_("第 %(n)s 行：%(m)s") % {"n": number, "m": exc.message}, returncode=2) from None
            if options["json"]:
                self.stdout.write(json.dumps(reply_line(reply), ensure_ascii=False))
            else:
                self.stdout.write(self._text(reply))
            self.stdout.flush()

    def _questions(self, options: dict[str, Any]) -> list[tuple[int, str]]:
        """(line number, question) of the text or the file, all checked before any is answered."""
        from kefu.knowledge.services.bot import clean_bot_question

        text, file = options.get("text"), options.get("file")
        if (text is None) == (file is None):
            raise CommandError(_("请给出一个问题，或用 --file 指定问题文件（二者选一）"), returncode=2)
        if text is not None:
            lines = [(1, text)]
        else:
            path = Path(file)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CommandError(_("无法读取文件") + f" {path}: {exc.strerror or exc}", returncode=2) from None
            lines = list(enumerate(_decode(data, path).splitlines(), start=1))
            lines = [(n, line) for n, line in lines if line.strip()]
            if not lines:
                raise CommandError(_("文件 %(f)s 中没有问题（空行会被跳过）") % {"f": path}, returncode=2)
        checked = []
        for number, line in lines:
            try:
                checked.append((number, clean_bot_question(line)))
            except ApplicationError as exc:
                where = _("第 %(n)s 行") % {"n": number} if file is not None else "TEXT"
                raise CommandError(f"{where}: {exc.message}", returncode=2) from None
        return checked

    def _utf8(self) -> None:
        """JSON lines and answers are UTF-8 whatever the terminal's locale."""
        out = getattr(self.stdout, "_out", None)
        encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
        if out is not None and hasattr(out, "reconfigure") and encoding and encoding != "utf8":
            out.reconfigure(encoding="utf-8")

    @staticmethod
    def _text(reply: Any) -> str:
        with translation.override(reply.language):
            lines = [_("问题：%(q)s") % {"q": reply.question}]
            if reply.article_id is None:
                lines.append(_("知识库中没有可回答的文章，需要转人工。"))
            elif not reply.handoff:
                lines.append(_("回答（%(t)s，置信度 %(c).2f）：") % {"t": reply.title, "c": reply.confidence})
                lines.append(reply.answer)
            else:
                lines.append(_("机器人没有把握（置信度 %(c).2f），需要转人工。最接近的文章：")
                             % {"c": reply.confidence})
                lines += [f"  {i}. {s.title} ({s.score:.2f})" for i, s in enumerate(reply.suggestions, start=1)]
            return "\n".join(lines) + "\n"


def _decode(data: bytes, path: Path) -> str:
    from kefu.core.tabular import ImportReport, decode_csv

    try:
        return decode_csv(data, ImportReport())
    except ApplicationError as exc:
        raise CommandError(f"{path}: {exc.message}", returncode=2) from None
