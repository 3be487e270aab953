"""Rights on the knowledge base."""

from __future__ import annotations

from enum import StrEnum

from kefu.accounts.choices import LEADS, SERVICE_STAFF, Role
from kefu.core.policy import register_rights


class KnowledgeRight(StrEnum):
    VIEW = "kb.view"  # read articles, internal ones included (agents' quick search, agent assist)
    EDIT = "kb.edit"  # write and change articles, submit them for review
    PUBLISH = "kb.publish"  # review: publish or send back, archive; categories
    INTAKE = "kb.intake"  # fill the departments' intake form (信息采集表)
    INSIGHT = "kb.insight"  # gaps, the consultation library, feedback
    BOT_MANAGE = "bot.manage"  # the bot's settings and calibration


KNOWLEDGE_TEAM = frozenset({Role.QA, Role.MANAGER, Role.ADMIN})


def register() -> None:
    register_rights({
        KnowledgeRight.VIEW: SERVICE_STAFF | {Role.DEPARTMENT},
        KnowledgeRight.EDIT: KNOWLEDGE_TEAM | LEADS,
        KnowledgeRight.PUBLISH: KNOWLEDGE_TEAM,
        KnowledgeRight.INTAKE: KNOWLEDGE_TEAM | LEADS | {Role.DEPARTMENT},
        KnowledgeRight.INSIGHT: KNOWLEDGE_TEAM | LEADS,
        KnowledgeRight.BOT_MANAGE: frozenset({Role.MANAGER, Role.ADMIN}),
    })
