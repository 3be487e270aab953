"""The widget's URLs under /chat/<chat_code>/ (kefu.widget.views); its websocket is in kefu.config.websockets."""

from __future__ import annotations

from django.urls import path

from kefu.widget import bot, views

app_name = "widget"
urlpatterns = [
    path("<slug:chat_code>/widget.js", views.widget_script, name="script"),
    path("<slug:chat_code>/frame", views.frame, name="frame"),
    path("<slug:chat_code>/session", views.session, name="session"),
    path("<slug:chat_code>/upload", views.upload, name="upload"),
    path("<slug:chat_code>/leave", views.leave, name="leave"),
    path("<slug:chat_code>/files/<int:attachment_id>", views.attachment, name="file"),
    path("<slug:chat_code>/bot/handoff", bot.handoff, name="bot_handoff"),
    path("<slug:chat_code>/bot/article", bot.article, name="bot_article"),
    path("<slug:chat_code>/bot/feedback", bot.feedback, name="bot_feedback"),
]
