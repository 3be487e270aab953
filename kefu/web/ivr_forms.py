"""Forms of the IVR editor and the blacklist page: they parse what was typed; the telephony services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kefu.core.models import BusinessCalendar
from kefu.telephony.choices import ClosedAction, IvrAction, IvrLanguage
from kefu.telephony.ivr_selectors import DIGITS

_TEXT = {"class": "input"}
_AREA = {"class": "input", "rows": 3}


def _with_none(choices: Any, empty: str) -> list[tuple[str, str]]:
    return [("", empty), *[(str(v), str(label)) for v, label in choices]]


class FlowCreateForm(forms.Form):
    name = forms.CharField(label=_("名称"), max_length=100, widget=forms.TextInput(attrs=_TEXT))
    number = forms.CharField(label=_("呼入号码"), max_length=40, widget=forms.TextInput(attrs=_TEXT),
                             help_text=_("电话系统送来的被叫号码，例如 4008001234"))


class FlowForm(FlowCreateForm):
    calendar = forms.ModelChoiceField(label=_("工作日历"), queryset=BusinessCalendar.objects.order_by("name"),
                                      required=False, empty_label=_("全天开放"),
                                      widget=forms.Select(attrs={"class": "input"}))
    entry = forms.ChoiceField(label=_("首个菜单"), required=False, widget=forms.Select(attrs={"class": "input"}))
    language = forms.ChoiceField(label=_("提示语言"), choices=IvrLanguage.choices,
                                 widget=forms.Select(attrs={"class": "input"}))
    closed_action = forms.ChoiceField(label=_("非工作时间处理"), choices=ClosedAction.choices,
                                      widget=forms.Select(attrs={"class": "input"}))
    out_of_hours_prompt = forms.CharField(label=_("非工作时间提示"), max_length=500, required=False,
                                          widget=forms.Textarea(attrs=_AREA))
    holiday_prompt = forms.CharField(label=_("节假日提示"), max_length=500, required=False,
                                     widget=forms.Textarea(attrs=_AREA))
    is_active = forms.BooleanField(label=_("启用（电话系统开始使用这个导航）"), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31)

    def __init__(self, *args: Any, nodes: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entry"].choices = [(n.key, f"{n.name} ({n.key})") for n in nodes]


class _TargetFields(forms.Form):
    """The action and its target; `prefix_name` names the fields (fallback_… for a menu's timeout rule)."""

    def add_target(self, prefix: str, *, nodes: list[Any], queues: list[Any], actions: Any) -> None:
        self.fields[f"{prefix}action"] = forms.ChoiceField(
            label=_("动作"), choices=actions, widget=forms.Select(attrs={"class": "input", "x-model": "action"}))
        self.fields[f"{prefix}node"] = forms.ChoiceField(
            label=_("子菜单"), required=False, widget=forms.Select(attrs={"class": "input"}),
            choices=_with_none([(n.key, f"{n.name} ({n.key})") for n in nodes], "—"))
        self.fields[f"{prefix}queue"] = forms.ChoiceField(
            label=_("队列"), required=False, widget=forms.Select(attrs={"class": "input"}),
            choices=_with_none([(q.code, f"{q.name} ({q.code})") for q in queues], "—"))
        self.fields[f"{prefix}number"] = forms.CharField(label=_("转接号码"), max_length=40, required=False,
                                                         widget=forms.TextInput(attrs=_TEXT))


class NodeForm(_TargetFields):
    key = forms.CharField(label=_("菜单代码"), max_length=40, widget=forms.TextInput(attrs=_TEXT),
                          help_text=_("小写字母、数字、- 和 _；电话系统用它回传所在菜单"))
    name = forms.CharField(label=_("名称"), max_length=100, widget=forms.TextInput(attrs=_TEXT))
    prompt = forms.CharField(label=_("提示语（语音合成朗读）"), max_length=1000, widget=forms.Textarea(attrs=_AREA))
    audio = forms.CharField(label=_("录音文件（可选）"), max_length=200, required=False,
                            widget=forms.TextInput(attrs=_TEXT), help_text=_("电话系统里的文件名，设置后代替语音合成"))
    timeout_seconds = forms.IntegerField(label=_("等待按键秒数"), min_value=1, max_value=60, initial=5,
                                         widget=forms.NumberInput(attrs=_TEXT))
    retries = forms.IntegerField(label=_("无按键或按错时重复次数"), min_value=0, max_value=9, initial=2,
                                 widget=forms.NumberInput(attrs=_TEXT))
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31)

    def __init__(self, *args: Any, nodes: list[Any], queues: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fallback = [(v, label) for v, label in IvrAction.choices
                    if v not in (IvrAction.REPEAT, IvrAction.ORDER_STATUS)]
        self.add_target("fallback_", nodes=nodes, queues=queues, actions=fallback)
        self.fields["fallback_action"].label = _("重复后仍无有效按键时")


class NodeKnowledgeForm(forms.Form):
    """A menu's spoken questions answered from the knowledge base (where the PBX recognises speech)."""

    ask_kb = forms.BooleanField(label=_("来电者可以直接说出问题，由知识库回答"), required=False,
                                help_text=_("需要电话系统支持语音识别：识别出的文字随“下一步”请求传来"))
    kb_queue = forms.ChoiceField(label=_("机器人答不了时转到队列"), required=False,
                                 help_text=_("不选：按“重复后仍无有效按键时”的设置处理"))

    def __init__(self, *args: Any, queues: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kb_queue"].choices = _with_none([(q.code, f"{q.name} ({q.code})") for q in queues], "—")
        self.fields["kb_queue"].widget.attrs["class"] = "input"


class ChoiceForm(_TargetFields):
    digit = forms.ChoiceField(label=_("按键"), choices=[(d, d) for d in DIGITS],
                              widget=forms.Select(attrs={"class": "input"}))
    label = forms.CharField(label=_("说明"), max_length=100, required=False, widget=forms.TextInput(attrs=_TEXT))
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31)

    def __init__(self, *args: Any, nodes: list[Any], queues: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_target("", nodes=nodes, queues=queues, actions=IvrAction.choices)


class VersionForm(forms.Form):
    version = forms.IntegerField(min_value=1, max_value=2**31)


class BlacklistForm(forms.Form):
    number = forms.CharField(label=_("号码或号段"), max_length=40, widget=forms.TextInput(attrs=_TEXT))
    is_prefix = forms.BooleanField(label=_("按前缀（以此开头的号码都拒接）"), required=False)
    reason = forms.CharField(label=_("原因"), max_length=200, widget=forms.TextInput(attrs=_TEXT))
    expires_on = forms.DateField(label=_("有效期至（可选，含当天）"), required=False,
                                 widget=forms.DateInput(attrs={"class": "input", "type": "date"}))
