"""Probe: the attacks of the security review, repeated from outside over HTTP against a served Kefu (small demo
data), with their figures. Not a test (the test suite has one test per hole and control); this measures what an
attacker gets.

1. **Masked personal data through search**: the QA inspector (who sees phone numbers and e-mail addresses masked)
   searches customers with a growing prefix of a customer's phone number, then of the e-mail address, through the
   API and the web search; a prefix "is confirmed" when the customer appears. Reported: how much of each value was
   recovered and in how many requests (before the work: the whole number in 21 requests, the e-mail in 206).
   The whole value must still find the customer (a lookup the audit log records).
2. **Inputs that gave server errors**: a 13 MB JSON body, `created_from` of year 1 at +14:00, a dispatch due at
   9999-12-31T23:59:59-14:00, a customer-timeline `before` of year 1 and of 9999.
3. **Someone else's token through `/me/tokens/{id}`** (an administrator revoking an agent's token there).
4. **Password guessing**: 30 wrong passwords for one account at 3.7 a second, then the right one, on the web
   sign-in and on django-admin's; 500 guessed API tokens. Reported: the answers, whether the right password got
   in, and the server's CPU time per refused attempt (before the work: signed in at once; 500 × 401, ~240 ms of
   CPU each).

Run: `.venv/bin/python bench/security_probe.py [--database sqlite|postgres]`
(writes bench/results/security_probe-<database>.json and .md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import string
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import log
from _proc import group_cpu_seconds
from _served import BENCH, PASSWORD, Server, prepare, run_django, token_for

RESULTS = BENCH / "results"
GUESS_RATE = 3.7  # attempts per second, as in the review
GUESSES = 30
TOKEN_GUESSES = 500
LOCKED = re.compile(r"(\d{1,2}:\d{2})")  # the lock message gives the time it ends


def sign_in(base: str, username: str, password: str, path: str = "/login/") -> tuple[httpx.Client, int, str]:
    """One sign-in attempt with a fresh browser; returns the client, the answer's status and its text."""
    client = httpx.Client(base_url=base, timeout=30)
    page = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    form = {"csrfmiddlewaretoken": token.group(1) if token else "", "username": username, "password": password}
    if path.startswith("/django-admin/"):
        form["next"] = "/django-admin/"
    answer = client.post(path, data=form, headers={"Referer": f"{base}{path}"})
    return client, answer.status_code, answer.text


def signed_in(status: int, text: str) -> bool:
    return status in (302, 303)


# --- 1. masked personal data ---------------------------------------------------------------------------------

def api_finds(api: httpx.Client, query: str, customer_id: int) -> bool:
    answer = api.get("/api/v1/customers", params={"q": query, "page_size": 100})
    answer.raise_for_status()
    return any(row["id"] == customer_id for row in answer.json()["items"])


def web_finds(web: httpx.Client, query: str, customer_id: int) -> bool:
    answer = web.get("/customers/", params={"q": query})
    answer.raise_for_status()
    return f"/customers/{customer_id}/" in answer.text


def guess_hidden(finds: Any, value: str, start: int, hidden: int, alphabet: str, limit: int, *,
                 leftwards: bool = False) -> dict[str, Any]:
    """The attacker sees all of `value` but `hidden` characters from `start` (the mask) and guesses them one at a
    time, keeping the first character that makes the customer appear: rightwards from what precedes the gap, or
    leftwards from what follows it (for an e-mail address the domain anchors the search to the e-mail field).
    Returns how many hidden characters came out right."""
    end = start + hidden
    known, requests = (value[end:] if leftwards else value[:start]), 0
    while len(known) < (len(value) - start if leftwards else end) and requests < limit:
        for ch in alphabet:
            requests += 1
            if finds(ch + known if leftwards else known + ch):
                known = ch + known if leftwards else known + ch
                break
        else:
            break
    guessed = known[: len(known) - (len(value) - end)] if leftwards else known[start:]
    truth = value[start:end]
    right = sum(1 for g, t in zip(reversed(guessed), reversed(truth), strict=False) if g == t) if leftwards else \
        sum(1 for g, t in zip(guessed, truth, strict=False) if g == t)
    return {"hidden_characters": hidden, "recovered": right, "requests": requests}


def masked_data(server: Server, env: dict[str, str]) -> dict[str, Any]:
    qa_api = httpx.Client(base_url=server.base, timeout=30,
                          headers={"Authorization": f"Bearer {token_for(env, 'qa')}"})
    qa_web, status, _ = sign_in(server.base, "qa", PASSWORD)
    assert signed_in(status, ""), "the QA inspector could not sign in"
    # A customer with a mobile number and an e-mail address: the values as stored (what the attacker is after).
    target = json.loads(run_django(env, (
        "import json\nfrom kefu.customers.models import ContactPoint as C\n"
        "p = C.objects.filter(kind='phone', value__regex=r'^1[0-9]{10}$', customer__contacts__kind='email')"
        ".order_by('customer_id').first()\n"
        "e = C.objects.filter(customer_id=p.customer_id, kind='email').first()\n"
        "print(json.dumps({'id': p.customer_id, 'phone': p.value, 'email': e.value}))")))
    shown = qa_api.get(f"/api/v1/customers/{target['id']}").json()
    result: dict[str, Any] = {"qa_sees": [c["value"] for c in shown.get("contacts", [])][:3]}
    local = target["email"].split("@")[0]
    for channel, finds in (("api", lambda q: api_finds(qa_api, q, target["id"])),
                           ("web", lambda q: web_finds(qa_web, q, target["id"]))):
        # a mobile number is shown as 3 digits, 4 hidden, 4 digits; an e-mail as its first letter and the domain
        result[f"{channel}_phone"] = guess_hidden(finds, target["phone"], 3, 4, string.digits, 200)
        result[f"{channel}_email"] = guess_hidden(finds, target["email"], 1, len(local) - 1,
                                                  string.ascii_lowercase + string.digits + "._-", 600,
                                                  leftwards=True)
        result[f"{channel}_whole_phone_finds"] = finds(target["phone"])
        result[f"{channel}_whole_email_finds"] = finds(target["email"])
    return result


# --- 2. inputs that gave server errors --------------------------------------------------------------------------

def inputs(server: Server, env: dict[str, str]) -> dict[str, Any]:
    lead = httpx.Client(base_url=server.base, timeout=60,
                        headers={"Authorization": f"Bearer {token_for(env, 'lead1')}"})
    web, _, _ = sign_in(server.base, "lead1", PASSWORD)
    ticket = lead.get("/api/v1/tickets", params={"limit": 1}).json()["items"][0]
    customer = lead.get("/api/v1/customers", params={"limit": 1}).json()["items"][0]
    department = next(d for d in lead.get("/api/v1/departments").json()["items"] if not d.get("is_service_center"))
    big = json.dumps({"subject": "大", "description": "x" * (13 * 1024 * 1024)})
    answers = {
        "13 MB JSON body (POST /api/v1/tickets)": lead.post(
            "/api/v1/tickets", content=big, headers={"Content-Type": "application/json"}).status_code,
        "created_from year 1 at +14:00 (GET /api/v1/tickets)": lead.get(
            "/api/v1/tickets", params={"created_from": "0001-01-01T00:00:00+14:00"}).status_code,
        "dispatch due 9999-12-31T23:59:59-14:00": lead.post(
            f"/api/v1/tickets/{ticket['id']}/dispatches",
            json={"department_id": department["id"], "due_at": "9999-12-31T23:59:59-14:00"}).status_code,
        "timeline before year 1 (web)": web.get(
            f"/customers/{customer['id']}/", params={"before": "0001-01-01T00:00:00+14:00"}).status_code,
        "timeline before year 9999 (web)": web.get(
            f"/customers/{customer['id']}/", params={"before": "9999-12-31T23:59:59-14:00"}).status_code,
    }
    return {"answers": answers, "server_errors": sum(1 for s in answers.values() if s >= 500)}


# --- 3. someone else's token ----------------------------------------------------------------------------------

def others_token(server: Server, env: dict[str, str]) -> dict[str, Any]:
    agent_token = token_for(env, "agent1", "victim")
    agent = httpx.Client(base_url=server.base, timeout=30, headers={"Authorization": f"Bearer {agent_token}"})
    listed = agent.get("/api/v1/me/tokens").json()
    token_id = (listed["items"] if isinstance(listed, dict) else listed)[0]["id"]
    admin = httpx.Client(base_url=server.base, timeout=30,
                         headers={"Authorization": f"Bearer {token_for(env, 'admin')}"})
    status = admin.delete(f"/api/v1/me/tokens/{token_id}").status_code
    return {"admin_deletes_agents_token_via_me": status, "agent_token_still_works": agent.get("/api/v1/me").status_code}


# --- 4. guessing ----------------------------------------------------------------------------------------------

def guessing(server: Server, username: str, path: str) -> dict[str, Any]:
    """Wrong passwords at GUESS_RATE a second, then the right one. Each attempt's server CPU time is read on its
    own, so the attempts that were checked (a password hash) and those refused while locked are told apart."""
    statuses: Counter[int] = Counter()
    checked: list[float] = []
    refused: list[float] = []
    for _ in range(GUESSES):
        started = time.monotonic()
        cpu_before = group_cpu_seconds(server.proc.pid)
        _, status, text = sign_in(server.base, username, "wrong-" + secrets.token_hex(4), path)
        cpu = group_cpu_seconds(server.proc.pid) - cpu_before
        statuses[status] += 1
        (refused if status == 429 or LOCKED.search(text) else checked).append(cpu)
        time.sleep(max(0.0, 1 / GUESS_RATE - (time.monotonic() - started)))
    _, status, text = sign_in(server.base, username, PASSWORD, path)
    until = LOCKED.search(text) if not signed_in(status, text) else None

    def mean_ms(samples: list[float]) -> float | None:
        return round(1000 * sum(samples) / len(samples), 1) if samples else None

    return {"wrong_attempts": GUESSES, "answers": dict(statuses), "right_password_signed_in": signed_in(status, text),
            "right_password_answer": status, "unlock_time_shown": until.group(1) if until else None,
            "checked_attempts": len(checked), "refused_attempts": len(refused),
            "server_cpu_ms_per_checked_attempt": mean_ms(checked),
            "server_cpu_ms_per_refused_attempt": mean_ms(refused)}


def token_guessing(server: Server) -> dict[str, Any]:
    client = httpx.Client(base_url=server.base, timeout=30)
    statuses: Counter[int] = Counter()
    retry_after = set()
    cpu_before = group_cpu_seconds(server.proc.pid)
    for _ in range(TOKEN_GUESSES):
        answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer kefu_{secrets.token_urlsafe(32)}"})
        statuses[answer.status_code] += 1
        if "Retry-After" in answer.headers:
            retry_after.add(answer.headers["Retry-After"])
    cpu = group_cpu_seconds(server.proc.pid) - cpu_before
    return {"guesses": TOKEN_GUESSES, "answers": dict(statuses), "retry_after_seen": sorted(retry_after)[:3],
            "server_cpu_ms_per_guess": round(cpu * 1000 / TOKEN_GUESSES, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    work = BENCH / ".work" / f"security-probe-{args.database}"
    log(f"preparing {args.database} with the small demo data")
    env = prepare(args.database, work, "kefu_security_probe")
    server = Server(env)
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M"), "database": args.database,
                              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    try:
        log("masked personal data through search")
        result["masked_data"] = masked_data(server, env)
        log("inputs that gave server errors")
        result["inputs"] = inputs(server, env)
        log("someone else's token")
        result["others_token"] = others_token(server, env)
        log("password guessing: web sign-in, django-admin, API tokens")
        result["guess_web"] = guessing(server, "agent2", "/login/")
        result["guess_django_admin"] = guessing(server, "admin", "/django-admin/login/")  # staff only there
        result["guess_api_tokens"] = token_guessing(server)
    finally:
        server.stop()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"security_probe-{args.database}"
    out.with_suffix(".json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    out.with_suffix(".md").write_text(report(result))
    log(f"written {out}.md")


def report(r: dict[str, Any]) -> str:
    m = r["masked_data"]
    lines = [f"# Security probe ({r['database']})", "",
             f"{r['when']}, {r['machine']}, Python {platform.python_version()}; `kefu serve` with the small demo "
             "data, probed over HTTP from the same machine.", "",
             "## Masked personal data through search (the QA inspector, who sees them masked)", "",
             f"The inspector sees: {', '.join(m['qa_sees'])}", "",
             "| search | hidden characters recovered | requests | the whole value finds the customer |",
             "|---|---:|---:|---|"]
    for channel in ("api", "web"):
        for kind in ("phone", "email"):
            a = m[f"{channel}_{kind}"]
            lines.append(f"| {channel}: {kind} | {a['recovered']} of {a['hidden_characters']} | "
                         f"{a['requests']} | {'yes' if m[f'{channel}_whole_{kind}_finds'] else 'no'} |")
    lines += ["", "## Inputs that gave server errors", "", "| input | answer |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in r["inputs"]["answers"].items()]
    o = r["others_token"]
    lines += ["", "## Someone else's token", "",
              "An administrator's `DELETE /api/v1/me/tokens/{an agent's token}`: "
              f"{o['admin_deletes_agents_token_via_me']}; the agent's token then answers "
              f"{o['agent_token_still_works']}.", "",
              "## Guessing", "",
              "| target | answers to the wrong attempts | right password then | CPU per checked / refused attempt |",
              "|---|---|---|---:|"]
    for key, label in (("guess_web", "web sign-in"), ("guess_django_admin", "django-admin sign-in")):
        g = r[key]
        answers = ", ".join(f"{s} × {n}" for s, n in sorted(g["answers"].items()))
        then = "signed in" if g["right_password_signed_in"] else (
            f"refused ({g['right_password_answer']})" + (f", unlock at {g['unlock_time_shown']}"
                                                         if g["unlock_time_shown"] else ""))
        lines.append(f"| {label}: {g['wrong_attempts']} wrong at {GUESS_RATE}/s | {answers} | {then} | "
                     f"{g['checked_attempts']} × {g['server_cpu_ms_per_checked_attempt']} ms / "
                     f"{g['refused_attempts']} × {g['server_cpu_ms_per_refused_attempt']} ms |")
    t = r["guess_api_tokens"]
    answers = ", ".join(f"{s} × {n}" for s, n in sorted(t["answers"].items()))
    lines.append(f"| API: {t['guesses']} guessed tokens | {answers} (Retry-After: "
                 f"{', '.join(t['retry_after_seen']) or '—'}) | — | {t['server_cpu_ms_per_guess']} ms |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
