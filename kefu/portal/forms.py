"""The portal's forms: the web form that opens a work order, the order-status lookup and "was this helpful?".
Every bad field gets its own message; the summary above a form names them all."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kefu.core.errors import ValidationFailed
from kefu.tickets.choices import TicketType

NAME_MAX = 50
SUBJECT_MAX = 100
DESCRIPTION_MAX = 5000
COMMENT_MAX = 500
ORDER_NUMBER = re.compile(r"^[A-Z]{2}\d{8,20}$")


def _stripped(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()


class PortalForm(forms.Form):
    """Text trimmed; errors listed by field label for the summary."""

    def error_labels(self) -> list[str]:
        return [str(self.fields[name].label) for name in self.errors if name in self.fields]


class ContactForm(PortalForm):
    """留言 / 提交工单: who they are (a name, and a phone number or an e-mail address), what kind of question,
    its subject and description; `website` is a trap for bots (hidden from people and from screen readers)."""

    TYPES = (TicketType.INQUIRY, TicketType.REPAIR, TicketType.COMPLAINT, TicketType.SUGGESTION,
             TicketType.PRAISE, TicketType.OTHER)

    name = forms.CharField(label=_("您的称呼"), max_length=NAME_MAX,
                           error_messages={"required": _("请填写您的称呼"),
                                           "max_length": _("称呼最多 %(limit_value)d 个字")})
    phone = forms.CharField(label=_("手机号码"), max_length=30, required=False,
                            error_messages={"max_length": _("手机号码最多 %(limit_value)d 位")})
    email = forms.CharField(label=_("电子邮箱"), max_length=200, required=False,
                            error_messages={"max_length": _("电子邮箱最多 %(limit_value)d 个字符")})
    ticket_type = forms.ChoiceField(label=_("问题类型"), choices=(),
                                    error_messages={"required": _("请选择问题类型"),
                                                    "invalid_choice": _("请选择问题类型")})
    subject = forms.CharField(label=_("标题"), max_length=SUBJECT_MAX,
                              error_messages={"required": _("请用一句话概括您的问题"),
                                              "max_length": _("标题最多 %(limit_value)d 个字")})
    description = forms.CharField(label=_("问题描述"), max_length=DESCRIPTION_MAX, widget=forms.Textarea,
                                  error_messages={"required": _("请描述您遇到的问题"),
                                                  "max_length": _("问题描述最多 %(limit_value)d 个字")})
    website = forms.CharField(required=False, label=_("网址（请留空）"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ticket_type"].choices = [("", _("请选择"))] + [(t.value, t.label) for t in self.TYPES]

    def clean_name(self) -> str:
        return _stripped(self.cleaned_data.get("name"))

    def clean_subject(self) -> str:
        text = _stripped(self.cleaned_data.get("subject"))
        if not text:
            raise forms.ValidationError(_("请用一句话概括您的问题"))
        return text

    def clean_description(self) -> str:
        text = str(self.cleaned_data.get("description") or "").replace("\r\n", "\n").strip()
        if not text:
            raise forms.ValidationError(_("请描述您遇到的问题"))
        return text

    def clean_phone(self) -> str:
        from kefu.customers.normalize import normalize_phone

        text = _stripped(self.cleaned_data.get("phone"))
        if text:
            try:
                normalize_phone(text)
            except ValidationFailed:
                raise forms.ValidationError(_("手机号码格式不正确")) from None
        return text

    def clean_email(self) -> str:
        from kefu.customers.normalize import normalize_email

        text = _stripped(self.cleaned_data.get("email"))
        if text:
            try:
                normalize_email(text)
            except ValidationFailed:
                raise forms.ValidationError(_("电子邮箱格式不正确")) from None
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.has_error("phone") and not self.has_error("email") and not (data.get("phone")
                                                                                  or data.get("email")):
            self.add_error("phone", _("请留下手机号码或电子邮箱（至少一项），方便我们联系您"))
        return data

    @property
    def is_bot(self) -> bool:
        return bool(str(self.data.get("website") or "").strip())


class LookupForm(PortalForm):
    """工单查询: the order number and the last four digits of the phone number on the order."""

    number = forms.CharField(label=_("工单号"), max_length=30,
                             error_messages={"required": _("请填写工单号"),
                                             "max_length": _("工单号格式不正确")})
    suffix = forms.CharField(label=_("手机号后四位"), max_length=8,
                             error_messages={"required": _("请填写手机号后四位"),
                                             "max_length": _("请填写手机号的后四位数字")})

    def clean_number(self) -> str:
        text = re.sub(r"\s+", "", str(self.cleaned_data.get("number") or "")).upper()
        if not ORDER_NUMBER.match(text):
            raise forms.ValidationError(_("工单号格式不正确，例如 GD202612010000123"))
        return text

    def clean_suffix(self) -> str:
        text = re.sub(r"\s+", "", str(self.cleaned_data.get("suffix") or ""))
        if not re.fullmatch(r"\d{4}", text):
            raise forms.ValidationError(_("请填写手机号的后四位数字"))
        return text


class FeedbackForm(PortalForm):
    """"这篇文章对您有帮助吗？" yes / no, with an optional comment."""

    helpful = forms.ChoiceField(label=_("是否有帮助"), choices=(("yes", _("有帮助")), ("no", _("没帮助"))),
                                error_messages={"required": _("请选择是否有帮助"),
                                                "invalid_choice": _("请选择是否有帮助")})
    comment = forms.CharField(label=_("意见"), max_length=COMMENT_MAX, required=False, widget=forms.Textarea,
                              error_messages={"max_length": _("意见最多 %(limit_value)d 个字")})
