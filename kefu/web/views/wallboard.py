"""The floor's wallboard (实时监控): per queue, who is waiting and how long, and today's service level, answer and
abandon rates under the queue's own formula (stated beside it); the agents by state and time in state. Live: the
page asks again when a call or an agent's state changes, and every 15 s for the clocks; `?tv=1` fills a screen."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kefu.core.policy import requires
from kefu.routing.choices import AgentStateKind, ServiceLevelFormula
from kefu.routing.permissions import RoutingRight
from kefu.routing.selectors import agent_states, queues_today
from kefu.telephony.selectors import waiting_by_queue
from kefu.web.views.common import is_htmx


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


@requires(RoutingRight.STATE_VIEW)
@require_GET
def wallboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    waiting = waiting_by_queue(now)
    queues = []
    for today in queues_today(now):
        count, longest = waiting.get(today.queue.pk, (0, None))
        level = today.service_level
        queues.append({
            "queue": today.queue, "waiting": count, "longest": _clock(longest),
            "late": longest is not None and longest > today.queue.target_seconds,
            "service_level": _percent(level),
            "below_target": level is not None and level * 100 < today.queue.target_percent,
            "formula": ServiceLevelFormula(today.queue.formula).label,
            "answer_rate": _percent(today.answer_rate), "abandon_rate": _percent(today.abandon_rate),
            "offered": today.offered, "answered": today.answered, "abandoned": today.abandoned,
            "short_abandoned": today.short_abandoned})
    agents = agent_states(request.user)
    for row in agents:
        row["clock"] = _clock(row["seconds_in_state"])
        row["label"] = AgentStateKind(row["state"]).label
    counts = {kind: sum(1 for a in agents if a["state"] == kind) for kind in AgentStateKind.values}
    summary = [{"state": k, "label": AgentStateKind(k).label, "count": counts[k]} for k in AgentStateKind.values]
    context: dict[str, Any] = {"nav": "wallboard", "queues": queues, "agents": [a for a in agents
                                                                             if a["state"] != "offline"],
                               "summary": summary, "tv": request.GET.get("tv") == "1",
                               "updated": timezone.localtime(now).strftime("%H:%M:%S")}
    if is_htmx(request):
        return render(request, "web/wallboard/_board.html", context)
    return render(request, "web/wallboard/page.html", context)
