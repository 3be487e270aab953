"""`kefu kb …` and `kefu bot ask`: the command-line contract others script against (exit codes, JSON lines)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kefu.core.models import AuditLog
from kefu.knowledge.choices import Language
from kefu.knowledge.models import Article, BotSettings, Consultation, Gap
from kefu.knowledge.tests.factories import make_article

pytestmark = pytest.mark.django_db
CSV = ("question,answer,category,language\n"
       "密码怎么改,在设置里修改密码。,账户,zh-hans\n"
       "忘记密码了怎么办,在设置里修改密码。,账户,zh-hans\n"
       "How long does a refund take?,Refunds take 3-5 working days.,Refunds,en\n")


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _fails(*args: str) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(*args, stdout=io.StringIO(), stderr=err)
    assert caught.value.returncode == 2
    return f"{caught.value} {err.getvalue()}"


def _threshold(value: float) -> None:
    row = BotSettings.current()
    row.threshold = value
    row.save()


@pytest.fixture
def kb(qa: Any) -> dict[str, Any]:
    return {"password": make_article(actor=qa, title="如何修改登录密码", body="在设置里修改密码。",
                                     questions=["密码怎么改", "忘记密码了怎么办"]),
            "refund": make_article(actor=qa, title="Refunds", body="Refunds take 3-5 working days.",
                                   questions=["How long does a refund take?", "when do I get my money back"],
                                   language=Language.EN)}


def test_import_export_round_trip_and_calibrate(tmp_path: Path, db: Any) -> None:
    source = tmp_path / "faq.csv"
    source.write_text(CSV, encoding="utf-8-sig")
    out, err = _run("kb", "import", str(source), "--dry-run")
    assert "检查通过" in out
    assert not Article.objects.exists()
    out, err = _run("kb", "import", str(source))
    assert "新建文章 2 篇" in out
    assert "回答阈值" in out
    assert "正在计算问法向量" in err  # progress on stderr
    audit = AuditLog.objects.get(action="knowledge.imported")
    assert audit.actor is None
    assert audit.data["actor"] == "系统：命令行"
    target = tmp_path / "export.xlsx"
    out, _err = _run("kb", "export", str(target))
    assert target.exists()
    assert "2 篇文章" in out
    out, _err = _run("kb", "import", str(target))
    assert "未变 2 篇" in out
    assert Article.objects.count() == 2
    out, _err = _run("kb", "calibrate")
    assert "回答阈值" in out
    out, _err = _run("kb", "stats")
    assert "已发布文章：2 篇" in out


def test_a_bad_file_exits_2_listing_every_bad_row(tmp_path: Path, db: Any) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer,category,language\n,答案,分类,zh-hans\n问题,,分类,xx\n", encoding="utf-8")
    message = _fails("kb", "import", str(bad))
    assert "第 2 行" in message
    assert "第 3 行" in message
    assert "[language]" in message
    assert not Article.objects.exists()
    assert "category" in _fails("kb", "import", str(_write(tmp_path / "cols.csv", "question,answer\nq,a\n")))
    assert ".csv" in _fails("kb", "import", str(_write(tmp_path / "faq.txt", CSV)))
    assert "无法读取文件" in _fails("kb", "import", str(tmp_path / "missing.csv"))
    assert ".csv" in _fails("kb", "export", str(tmp_path / "out.pdf"))


def test_import_as_a_user_needs_the_publish_right(tmp_path: Path, agent: Any, qa: Any) -> None:
    source = _write(tmp_path / "faq.csv", CSV)
    assert "权限" in _fails("kb", "import", str(source), "--as", agent.username)
    assert "nobody" in _fails("kb", "import", str(source), "--as", "nobody")
    _run("kb", "import", str(source), "--as", qa.username, "--no-calibrate")
    assert AuditLog.objects.get(action="knowledge.imported").actor == qa


def test_bot_ask_json_lines_in_order(tmp_path: Path, kb: dict[str, Any]) -> None:
    _threshold(0.0)
    questions = _write(tmp_path / "q.txt", "密码怎么改\n\n   \nHow long does a refund take?\n")
    out, _err = _run("bot", "ask", "--file", str(questions), "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [list(line) for line in lines] == [["question", "article_id", "answer", "confidence", "handoff"]] * 2
    assert [line["question"] for line in lines] == ["密码怎么改", "How long does a refund take?"]
    assert lines[0]["article_id"] == kb["password"].pk
    assert lines[1]["article_id"] == kb["refund"].pk
    assert lines[0]["answer"] == "在设置里修改密码。"
    assert lines[0]["handoff"] is False
    assert not Consultation.objects.exists()  # not recorded unless --record


def test_bot_ask_hands_over_with_the_best_answer_and_records_on_request(kb: dict[str, Any]) -> None:
    _threshold(1.01)
    out, _err = _run("bot", "ask", "密码怎么改", "--json", "--record")
    line = json.loads(out)
    assert line["handoff"] is True
    assert line["article_id"] == kb["password"].pk
    assert line["answer"]
    assert Consultation.objects.get().channel == "cli"
    assert Gap.objects.count() == 1


def test_bot_ask_text_answer_in_the_question_s_language(kb: dict[str, Any]) -> None:
    _threshold(0.0)
    out, _err = _run("bot", "ask", "密码怎么改")
    assert "问题：密码怎么改" in out
    assert "在设置里修改密码。" in out
    out, _err = _run("bot", "ask", "How long does a refund take?")
    assert "Refunds take 3-5 working days." in out  # its labels in English once the catalogue has them
    _threshold(1.01)
    out, _err = _run("bot", "ask", "密码怎么改")
    assert "转人工" in out
    assert "1. 如何修改登录密码" in out


def test_bot_ask_bad_input_exits_2(tmp_path: Path, db: Any) -> None:
    assert "无法读取文件" in _fails("bot", "ask", "--file", str(tmp_path / "missing.txt"), "--json")
    assert "空行" in _fails("bot", "ask", "--file", str(_write(tmp_path / "e.txt", "\n \n")), "--json")
    assert "第 2 行" in _fails("bot", "ask", "--file", str(_write(tmp_path / "l.txt", "好\n" + "长" * 501)))
    _fails("bot", "ask")
    _fails("bot", "ask", "  ")
    _fails("bot", "ask", "问题", "--file", str(tmp_path / "q.txt"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
