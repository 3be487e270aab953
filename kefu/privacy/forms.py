"""Forms of the personal-data pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from kefu.privacy.choices import AskedBy
from kefu.privacy.services import MAX_KEEP_DAYS, MIN_KEEP_DAYS, NOTE_MAX, REASON_MAX


class ErasureRequestForm(forms.Form):
    asked_by = forms.ChoiceField(label=_("由谁提出"), choices=AskedBy.choices)
    reason = forms.CharField(label=_("原因"), max_length=REASON_MAX, widget=forms.Textarea(attrs={"rows": 4}),
                             help_text=_("例如：客户来电要求删除个人信息，已核实身份"))


class DecisionForm(forms.Form):
    note = forms.CharField(label=_("审批意见"), max_length=NOTE_MAX, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


class RetentionRuleForm(forms.Form):
    enabled = forms.BooleanField(label=_("启用"), required=False)
    keep_days = forms.IntegerField(label=_("保存天数"), min_value=MIN_KEEP_DAYS, max_value=MAX_KEEP_DAYS)
    version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
