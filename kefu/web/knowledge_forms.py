"""Forms of the knowledge-base pages: they check the shape of the input; the services check the rest."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from kefu.knowledge.choices import Language, Visibility
from kefu.knowledge.services.articles import BODY_MAX, SPOKEN_MAX, TITLE_MAX

LANGUAGES = Language.choices
VISIBILITIES = Visibility.choices


class ArticleForm(forms.Form):
    title = forms.CharField(label=_("文章标题"), max_length=TITLE_MAX)
    body = forms.CharField(label=_("答案"), max_length=BODY_MAX, widget=forms.Textarea)
    questions = forms.CharField(label=_("客户的问法"), required=False, max_length=40_000, widget=forms.Textarea)
    spoken = forms.CharField(label=_("语音播报版"), required=False, max_length=SPOKEN_MAX * 2)
    tags = forms.CharField(label=_("标签"), required=False, max_length=800)
    category = forms.IntegerField(label=_("分类"), required=False, min_value=1)
    department = forms.IntegerField(label=_("负责部门"), required=False, min_value=1)
    language = forms.ChoiceField(label=_("语言"), choices=LANGUAGES)
    visibility = forms.ChoiceField(label=_("可见范围"), choices=VISIBILITIES)
    note = forms.CharField(label=_("修改说明"), required=False, max_length=200)
    version = forms.IntegerField(label=_("版本"), required=False, min_value=1)
    gap = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def question_lines(self) -> list[str]:
        return [line for line in (self.cleaned_data.get("questions") or "").splitlines() if line.strip()]

    def tag_list(self) -> list[str]:
        return [t for t in re.split(r"[,，、\s]+", self.cleaned_data.get("tags") or "") if t]


class CategoryForm(forms.Form):
    name = forms.CharField(label=_("名称"), max_length=60)
    name_en = forms.CharField(label=_("英文名称"), max_length=60, required=False)
    slug = forms.CharField(label=_("网址标识"), max_length=60)
    description = forms.CharField(label=_("说明"), max_length=200, required=False)
    parent = forms.IntegerField(label=_("上级分类"), required=False, min_value=1)
    position = forms.IntegerField(label=_("排序"), required=False, min_value=0, max_value=32767)
    is_public = forms.BooleanField(label=_("在自助门户显示"), required=False)
    version = forms.IntegerField(label=_("版本"), required=False, min_value=1)


class IntakeForm(forms.Form):
    questions = forms.CharField(label=_("客户的问法"), max_length=40_000, widget=forms.Textarea)
    answer = forms.CharField(label=_("答案"), max_length=BODY_MAX, widget=forms.Textarea)
    category = forms.IntegerField(label=_("建议分类"), required=False, min_value=1)
    language = forms.ChoiceField(label=_("语言"), choices=LANGUAGES)
    note = forms.CharField(label=_("补充说明"), max_length=500, required=False)
    department = forms.IntegerField(label=_("部门"), required=False, min_value=1)


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("文件"))
