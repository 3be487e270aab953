"""The words of the widget's scripts, from the catalogue: the chat frame's (in the frame's language) and the
launcher's (both languages: the host page picks one when it runs). `{name}`-style holes are filled by the script."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _


def frame_strings() -> dict[str, object]:
    """In the active language."""
    return {
        "connecting": _("正在连接…"),
        "online": _("在线 · 通常几分钟内回复"),
        "offline": _("客服暂时不在线"),
        "outOfHours": _("现在是非工作时间"),
        "ended": _("会话已结束"),
        "reconnecting": _("连接已断开，正在重新连接…"),
        "refused": _("此网站未获准使用在线客服。"),
        "me": _("我"),
        "agent": _("客服"),
        "says": _("{name}说："),
        "sending": _("发送中…"),
        "sent": _("已送达"),
        "read": _("已读"),
        "failed": _("发送失败"),
        "retry": _("重试"),
        "uploading": _("正在发送 {name}…"),
        "today": _("今天"),
        "yesterday": _("昨天"),
        "tomorrow": _("明天"),
        "typing": _("客服正在输入…"),
        "agentJoined": _("客服已接入，正在为您服务"),
        "endedByYou": _("您已结束本次会话"),
        "endedByAgent": _("客服已结束本次会话"),
        "rateTitle": _("请为本次服务评分"),
        "rateLabels": [_("非常不满意"), _("不满意"), _("一般"), _("满意"), _("非常满意")],
        "stars": _("{n} 星"),
        "rateChoose": _("请先选择星级"),
        "rateThanks": _("感谢您的评价！"),
        "rated": _("您的评分：{n} 星"),
        "greeting": _("您好！请问有什么可以帮您？"),
        "fileTooBig": _("文件不能超过 {mb} MB"),
        "fileType": _("不支持这种文件类型"),
        "uploadFailed": _("文件发送失败，请重试"),
        "image": _("图片"),
        "download": _("下载"),
        "required": _("请填写此项"),
        "needContact": _("请留下手机号码或电子邮箱，方便我们联系您"),
        "badPhone": _("手机号码格式不正确"),
        "badEmail": _("电子邮箱格式不正确"),
        "opensAt": _("现在是非工作时间，我们将于{day} {time} 恢复服务。"),
        "closedWhy": _("现在是非工作时间。"),
        "offlineWhy": _("客服暂时都不在线。"),
        "leftNumber": _("工单号：{number}"),
        "error": _("出错了，请稍后重试"),
        "tooLong": _("消息太长了，请分几条发送"),
        "throttled": _("发送太频繁，请稍后再试"),
        # the answer bot
        "bot": _("机器人"),
        "botOnline": _("智能助手在线 · 随时为您解答"),
        "botGreeting": _("您好！我是智能助手{name}，请问有什么可以帮您？"),
        "helpful": _("有帮助"),
        "unhelpful": _("没帮助"),
        "wasHelpful": _("这个回答有帮助吗？"),
        "feedbackThanks": _("感谢您的反馈！"),
        "toPerson": _("转人工"),
        "handedOver": _("已为您转接人工客服，请稍候"),
        "suggested": _("您可以看看这些文章："),
        "loading": _("正在加载…"),
    }


def launcher_strings() -> dict[str, dict[str, str]]:
    """Both languages: the host page chooses when it runs (data-lang, else the browser's language)."""
    labels = {}
    for language in ("zh-hans", "en"):
        with translation.override(language):
            labels[language] = {"open": _("在线客服"), "close": _("收起在线客服"), "title": _("在线客服对话"),
                                "unread": _("{n} 条未读消息")}
    return labels
