"""`kefu channel …`: set up and inspect channels from the command line.

    kefu channel add webhook CODE [--name N] [--team T] [--secret S] [--outbound-url URL]
    kefu channel add chat CODE [--name N] [--team T] [--origin https://shop.example.com …] [--calendar C]
                               [--prechat name,phone*,question*] [--secret-value identity_secret=…]
    kefu channel add wechat_oa|wecom_kf|sms CODE [--name N] [--team T] --set KEY=VALUE … --secret-value KEY=VALUE …
    kefu channel add email CODE --address A --imap-host H --smtp-host H [--imap-port P] [--imap-security S]
                              [--smtp-port P] [--smtp-security S] [--username U] [--folder F] [--display-name N]
                              [--sent-folder F]
                              (the mailbox password or app password from KEFU_MAILBOX_PASSWORD, or asked for)
                              [--auth oauth2 --oauth-tenant T --oauth-client-id ID]
                              (Microsoft 365: the application's client secret from KEFU_MAILBOX_CLIENT_SECRET,
                              or asked for)
    kefu channel add … [--queue Q]     (any kind: its conversations wait in the routed chat queue Q)
    kefu channel queue CODE QUEUE|-    (the routed chat queue its new conversations wait in; - for the team's inbox)
    kefu channel poll CODE             (read an e-mail channel's new mail now)
    kefu channel list
    kefu channel secret CODE           (a new webhook secret, printed once; for an e-mail channel: its new
                                        password, from KEFU_MAILBOX_PASSWORD or asked for, or with OAuth its
                                        application's new client secret, from KEFU_MAILBOX_CLIENT_SECRET)

Exit status 2 with a message naming the argument on bad input; nothing is written then.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor
from kefu.core.errors import ApplicationError

CLI = system_actor("cli", gettext_lazy("系统：命令行"))


class Command(BaseCommand):
    help = "Set up and list conversation channels (chat widget, app/mini-program webhooks, …)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="create a channel")
        add.add_argument("kind", choices=["webhook", "chat", "email", "wechat_oa", "wecom_kf", "sms"],
                         help="the channel kind")
        add.add_argument("code", help="stable code used in URLs (lower-case letters, digits, - and _)")
        add.add_argument("--name", default="", help="the name agents see")
        add.add_argument("--team", default="", help="the team whose inbox receives it (code or name)")
        add.add_argument("--secret", default="", help="webhook: the shared secret (generated when omitted)")
        add.add_argument("--outbound-url", default="", help="webhook: where agents' replies are POSTed")
        add.add_argument("--origin", action="append", default=[],
                         help="chat: a site allowed to embed the widget (repeatable; * for any)")
        add.add_argument("--prechat", default=None, metavar="FIELDS",
                         help="chat: the pre-chat form, e.g. name,phone*,question* (* required; '' for none; "
                              "default name,question*)")
        add.add_argument("--calendar", default="", help="the business calendar of its hours (name or id)")
        add.add_argument("--queue", default="", help="the routed chat queue its conversations wait in (code)")
        for option, help_text in (
                ("--address", "email: the mailbox address customers write to"),
                ("--display-name", "email: the sender name on replies"),
                ("--username", "email: the sign-in name (default: the address)"),
                ("--imap-host", "email: IMAP server"), ("--imap-port", "email: IMAP port (default by security)"),
                ("--imap-security", "email: ssl (default), starttls or none"),
                ("--smtp-host", "email: SMTP server"), ("--smtp-port", "email: SMTP port (default by security)"),
                ("--smtp-security", "email: ssl (default), starttls or none"),
                ("--folder", "email: the folder to read (default INBOX)"),
                ("--sent-folder", "email: keep a copy of each reply in this folder (e.g. 'Sent Messages')"),
                ("--auth", "email: password (default: a password or app password) or oauth2 (Microsoft 365)"),
                ("--oauth-tenant", "email, oauth2: the directory (tenant) id or domain"),
                ("--oauth-client-id", "email, oauth2: the application (client) id"),
                ("--oauth-token-url", "email, oauth2: the token endpoint (default: Microsoft's, for the tenant)"),
                ("--oauth-scope", "email, oauth2: the scope asked for (default: Exchange Online's)")):
            add.add_argument(option, default="", help=help_text)
        add.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="wechat_oa, wecom_kf, sms: a setting, e.g. appid=wx…, corpid=ww…, provider=aliyun "
                              "(repeatable; docs/conversations.md lists them)")
        add.add_argument("--secret-value", action="append", default=[], metavar="KEY=VALUE",
                         help="wechat_oa, wecom_kf, sms: a secret, e.g. token=…, encoding_aes_key=…, appsecret=… "
                              "(repeatable)")
        sub.add_parser("list", help="list the channels")
        poll = sub.add_parser("poll", help="read an e-mail channel's new mail now")
        poll.add_argument("code")
        secret = sub.add_parser("secret", help="give a webhook channel a new secret (printed once)")
        secret.add_argument("code")
        queue = sub.add_parser("queue", help="set the routed chat queue a channel's conversations wait in")
        queue.add_argument("code")
        queue.add_argument("queue", help="a routed chat queue's code, or - for the team's inbox")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "add":
                self._add(options)
            elif action == "list":
                self._list()
            elif action == "secret":
                self._secret(options["code"])
            elif action == "poll":
                self._poll(options["code"])
            elif action == "queue":
                self._set_queue(options["code"], options["queue"])
        except ApplicationError as exc:
            field = (exc.details or {}).get("field")
            raise CommandError(f"{field}: {exc.message}" if field else exc.message, returncode=2) from None

    def _team(self, value: str) -> Any:
        from kefu.accounts.models import Team

        if not value:
            return None
        team = Team.objects.filter(code=value).first() if hasattr(Team, "code") else None
        team = team or Team.objects.filter(name=value).first()
        if team is None and value.isdigit():
            team = Team.objects.filter(pk=int(value)).first()
        if team is None:
            raise CommandError(f"--team: no team '{value}'", returncode=2)
        return team

    @staticmethod
    def _queue(value: str) -> Any:
        from kefu.routing.selectors import queue_by_code

        if not value:
            return None
        queue = queue_by_code(value)
        if queue is None:
            raise CommandError(f"--queue: no queue '{value}'", returncode=2)
        return queue

    def _set_queue(self, code: str, value: str) -> None:
        from kefu.conversations.models import Channel
        from kefu.conversations.services import ChannelChanges, channel_update

        channel = Channel.objects.filter(code=code).first()
        if channel is None:
            raise CommandError(f"code: no channel '{code}'", returncode=2)
        queue = None if value.strip() == "-" else self._queue(value)
        if queue is None and value.strip() != "-":
            raise CommandError("queue: a queue's code, or - for the team's inbox", returncode=2)
        channel_update(actor=CLI, channel=channel, expected_version=None,
                       changes=ChannelChanges(queue=queue, clear_queue=queue is None))
        self.stdout.write(f"{channel.code}: {'queue ' + queue.code if queue else 'the team inbox'}")

    def _calendar(self, value: str) -> Any:
        from kefu.core.models import BusinessCalendar

        if not value:
            return None
        calendar = BusinessCalendar.objects.filter(name=value).first()
        if calendar is None and value.isdigit():
            calendar = BusinessCalendar.objects.filter(pk=int(value)).first()
        if calendar is None:
            raise CommandError(f"--calendar: no business calendar '{value}'", returncode=2)
        return calendar

    def _add(self, options: dict[str, Any]) -> None:
        from kefu.conversations.services import channel_create, new_secret

        kind = options["kind"]
        team = self._team(options["team"])
        config: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        generated = False
        if kind == "webhook":
            if options["outbound_url"]:
                config["outbound_url"] = options["outbound_url"]
            secrets["secret"] = options["secret"] or new_secret()
            generated = not options["secret"]
        elif kind == "email":
            config, secrets = self._mailbox(options)
        elif kind == "chat":
            config["allowed_origins"] = list(options["origin"])
            if options["prechat"] is not None:
                config["prechat"] = [{"name": f.strip().rstrip("*"), "required": f.strip().endswith("*")}
                                     for f in options["prechat"].split(",") if f.strip()]
            secrets.update(self._pairs(options["secret_value"], "--secret-value"))
            if not secrets.get("identity_secret"):
                secrets["identity_secret"] = new_secret()
                generated = True
        else:
            config.update(self._pairs(options["set"], "--set"))
            secrets.update(self._pairs(options["secret_value"], "--secret-value"))
            if kind == "sms" and config.get("provider") != "console" and not secrets.get("callback_token"):
                secrets["callback_token"] = new_secret()
                generated = True
        channel = channel_create(actor=CLI, kind=kind, code=options["code"], name=options["name"], team=team,
                                 config=config, secrets_=secrets, calendar=self._calendar(options["calendar"]),
                                 queue=self._queue(options["queue"]))
        self.stdout.write(f"created {channel.kind} channel {channel.code}")
        if kind == "webhook":
            self.stdout.write(f"inbound URL: /api/v1/inbound/{channel.code}")
            if generated:
                self.stdout.write(f"secret: {secrets['secret']}")
        elif kind == "chat":
            self.stdout.write(f"widget: <script src=\"<Kefu address>/chat/{channel.code}/widget.js\" async></script>")
            if generated:
                self.stdout.write(f"identity secret: {secrets['identity_secret']}")
        elif kind in ("wechat_oa", "wecom_kf"):
            self.stdout.write(f"URL: /hooks/{'wechat' if kind == 'wechat_oa' else 'wecom'}/{channel.code}/")
        elif kind == "sms" and secrets.get("callback_token"):
            token = secrets["callback_token"] if generated else "<callback_token>"
            self.stdout.write(f"delivery reports: /hooks/sms/{channel.code}/report/?token={token}")
            self.stdout.write(f"replies: /hooks/sms/{channel.code}/inbound/?token={token}")

    @staticmethod
    def _pairs(values: list[str], option: str) -> dict[str, str]:
        pairs = {}
        for value in values:
            key, sep, rest = value.partition("=")
            if not sep or not key.strip():
                raise CommandError(f"{option}: write KEY=VALUE, not '{value}'", returncode=2)
            pairs[key.strip()] = rest.strip()
        return pairs

    def _list(self) -> None:
        from kefu.conversations.models import Channel

        for channel in Channel.objects.select_related("team").order_by("kind", "code"):
            state = "active" if channel.is_active else "disabled"
            team = channel.team.name if channel.team else "-"
            self.stdout.write(f"{channel.code}\t{channel.kind}\t{state}\t{team}\t{channel.name}")

    def _secret(self, code: str) -> None:
        from kefu.conversations.models import Channel
        from kefu.conversations.services import ChannelChanges, channel_update, new_secret

        channel = Channel.objects.filter(code=code, kind__in=("webhook", "email")).first()
        if channel is None:
            raise CommandError(f"code: no webhook or e-mail channel '{code}'", returncode=2)
        if channel.kind == "email" and (channel.config or {}).get("auth") == "oauth2":
            client_secret = self._client_secret()
            if not client_secret:
                raise CommandError("oauth_client_secret: set KEFU_MAILBOX_CLIENT_SECRET or type it", returncode=2)
            channel_update(actor=CLI, channel=channel, expected_version=None,
                           changes=ChannelChanges(secrets={"oauth_client_secret": client_secret}))
            self.stdout.write(f"{channel.code}: the application's client secret changed")
            return
        if channel.kind == "email":  # a changed mailbox password or a new app password
            password = self._mailbox_password()
            if not password:
                raise CommandError("password: set KEFU_MAILBOX_PASSWORD or type it", returncode=2)
            channel_update(actor=CLI, channel=channel, expected_version=None,
                           changes=ChannelChanges(secrets={"password": password}))
            self.stdout.write(f"{channel.code}: mailbox password changed")
            return
        secret = new_secret()
        channel_update(actor=CLI, channel=channel, expected_version=None,
                       changes=ChannelChanges(secrets={"secret": secret}))
        self.stdout.write(f"secret: {secret}")

    def _mailbox(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        config: dict[str, Any] = {}
        for key in ("address", "display_name", "username", "imap_host", "imap_security", "smtp_host",
                    "smtp_security", "folder", "sent_folder", "auth", "oauth_tenant", "oauth_client_id",
                    "oauth_token_url", "oauth_scope"):
            if options[key]:
                config[key] = options[key]
        for key in ("imap_port", "smtp_port"):
            if options[key]:
                if not str(options[key]).isdigit():
                    raise CommandError(f"--{key.replace('_', '-')}: a port number", returncode=2)
                config[key] = int(options[key])
        if config.get("auth") == "oauth2":
            client_secret = self._client_secret()
            return config, ({"oauth_client_secret": client_secret} if client_secret else {})
        password = self._mailbox_password()
        return config, ({"password": password} if password else {})

    def _mailbox_password(self) -> str:
        return self._ask("KEFU_MAILBOX_PASSWORD", "mailbox password (or app password): ")

    def _client_secret(self) -> str:
        return self._ask("KEFU_MAILBOX_CLIENT_SECRET", "the application's client secret: ")

    def _ask(self, variable: str, prompt: str) -> str:
        import os
        from getpass import getpass

        value = os.environ.get(variable, "")
        if not value and self.stdin_is_terminal():
            value = getpass(prompt)
        return value

    def stdin_is_terminal(self) -> bool:
        import sys

        return sys.stdin.isatty()

    def _poll(self, code: str) -> None:
        from kefu.conversations.mailboxes import mailbox_poll
        from kefu.conversations.models import Channel

        channel = Channel.objects.filter(code=code, kind="email").first()
        if channel is None:
            raise CommandError(f"code: no e-mail channel '{code}'", returncode=2)
        result = mailbox_poll(channel=channel)
        self.stdout.write(f"{channel.code}: {result.fetched} fetched, {result.stored} stored, "
                          f"{result.duplicates} duplicates, {result.skipped} skipped"
                          + (", more waiting" if result.more else ""))
        if result.error:
            raise CommandError(f"{channel.code}: {result.error}", returncode=1)
