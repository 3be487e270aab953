"""OpenID Connect sign-in against a local provider: a stub at the HTTP layer on a loopback port (discovery,
authorization, token, userinfo and JWKS endpoints) that signs real RS256 ID tokens with a test key and checks the
PKCE verifier like a real provider. The account is created and updated through the staff services (audited), the
provider's `amr` decides whether Kefu still asks for its own second factor, and every refusal is a page with a
reason, never a server error."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client, override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from kefu.accounts.models import User
from kefu.core.models import AuditLog
from kefu.identity import configuration
from kefu.identity import second_factor as tf
from kefu.identity.models import SignInSettings

pytestmark = pytest.mark.django_db
CLIENT_ID = "kefu-web"


class StubProvider:
    """An OpenID provider good enough to be told from a broken one: it remembers each authorization request and
    answers the token request only with the right code, client, redirect URI and PKCE verifier."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.claims: dict[str, Any] = {}
        self.pending: dict[str, dict[str, str]] = {}
        self.sign_with_other_key = False
        self.token_status = 200
        self.token_requests: list[dict[str, str]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif url.path == "/jwks":
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(provider.key.public_key()))
                    self._json(200, {"keys": [{**jwk, "kid": provider.kid, "alg": "RS256", "use": "sig"}]})
                elif url.path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    provider.pending[code] = query
                    target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                elif url.path == "/userinfo":
                    if self.headers.get("Authorization") != "Bearer access-for-" + provider.claims.get("sub", ""):
                        self._json(401, {"error": "invalid_token"})
                    else:
                        self._json(200, {k: v for k, v in provider.claims.items() if k not in ("amr",)})
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                provider.token_requests.append(form)
                if self.path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                if provider.token_status != 200:
                    self._json(provider.token_status, {"error": "server_error"})
                    return
                asked = provider.pending.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if (asked is None or form.get("client_id") != CLIENT_ID
                        or form.get("redirect_uri") != asked["redirect_uri"]
                        or asked.get("code_challenge_method") != "S256" or challenge != asked.get("code_challenge")):
                    self._json(400, {"error": "invalid_grant"})
                    return
                now = int(time.time())
                id_claims = {"iss": provider.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                             "nonce": asked.get("nonce"), **provider.claims}
                key = provider.other_key if provider.sign_with_other_key else provider.key
                id_token = jwt.encode(id_claims, key, algorithm="RS256", headers={"kid": provider.kid})
                self._json(200, {"access_token": "access-for-" + provider.claims.get("sub", ""),
                                 "token_type": "Bearer", "expires_in": 300, "id_token": id_token})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.base
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token", "userinfo_endpoint": f"{self.base}/userinfo",
                "jwks_uri": f"{self.base}/jwks", "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"]}

    def environment(self) -> dict[str, str]:
        """The KEFU_* variables an operator would set for this provider (from its discovery document)."""
        found = self.discovery()
        return {
            "KEFU_OIDC_CLIENT_ID": CLIENT_ID, "KEFU_OIDC_CLIENT_SECRET": "", "KEFU_OIDC_ISSUER": found["issuer"],
            "KEFU_OIDC_AUTHORIZATION_ENDPOINT": found["authorization_endpoint"],
            "KEFU_OIDC_TOKEN_ENDPOINT": found["token_endpoint"],
            "KEFU_OIDC_USERINFO_ENDPOINT": found["userinfo_endpoint"], "KEFU_OIDC_JWKS_ENDPOINT": found["jwks_uri"],
            "KEFU_OIDC_BUTTON_LABEL": "企业微信登录",
            "KEFU_SSO_GROUP_ROLES": "kefu-admins=admin;/kefu/leads=team_lead;kefu-agents=agent",
            "KEFU_SSO_GROUP_TEAMS": "team-one=客服一组;team-two=客服二组",
        }


@pytest.fixture(scope="module")
def provider() -> Iterator[StubProvider]:
    stub = StubProvider()
    stub.thread.start()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


@pytest.fixture
def oidc(provider: StubProvider) -> Iterator[StubProvider]:
    env = provider.environment()
    settings = {**configuration.oidc_settings(env), **configuration.mapping_settings(env),
                "AUTHENTICATION_BACKENDS": configuration.authentication_backends(oidc=True, ldap=False)}
    provider.claims, provider.sign_with_other_key, provider.token_status = {}, False, 200
    with override_settings(**settings):
        yield provider


def _sso(client: Client, provider: StubProvider, claims: dict[str, Any], next_url: str = "/tickets/") -> Any:
    """The browser's part: Kefu's start page → the provider's authorization page → Kefu's callback."""
    provider.claims = claims
    start = client.get("/sso/oidc/start/", {"next": next_url})
    assert start.status_code == 302, start.content[:300]
    location = urlsplit(start["Location"])
    asked = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43
    assert asked["nonce"]
    assert asked["state"]
    assert asked["client_id"] == CLIENT_ID
    connection = http.client.HTTPConnection(location.hostname, location.port, timeout=10)
    connection.request("GET", f"{location.path}?{location.query}")
    answer = connection.getresponse()
    assert answer.status == 302
    back = urlsplit(answer.getheader("Location"))
    connection.close()
    assert back.path == "/sso/oidc/callback/"
    return client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})


def _claims(sub: str = "kc-1001", username: str = "zhang.wei", groups: list[str] | None = None,
            **extra: Any) -> dict[str, Any]:
    return {"sub": sub, "preferred_username": username, "name": "张伟", "email": "zhang.wei@example.com",
            "email_verified": True, "groups": ["kefu-agents", "team-one"] if groups is None else groups, **extra}


def test_the_sign_in_page_offers_single_sign_on_when_configured(oidc: StubProvider) -> None:
    page = Client().get("/login/")
    assert b'data-testid="sso-oidc"' in page.content
    assert "企业微信登录".encode() in page.content


def test_a_new_person_gets_an_account_through_the_staff_services(oidc: StubProvider, team: Any) -> None:
    client = Client()
    done = _sso(client, oidc, _claims())
    assert done.status_code == 302
    assert done["Location"] == "/tickets/"
    user = User.objects.get(username="zhang.wei")
    assert (user.role, user.team, user.display_name, user.email) == ("agent", team, "张伟", "zhang.wei@example.com")
    assert not user.must_change_password
    assert not user.has_usable_password()
    link = SignInSettings.objects.get(user=user)
    assert (link.source, link.external_subject, link.local_password_disabled) == ("oidc", "kc-1001", True)
    actions = list(AuditLog.objects.filter(object_id=str(user.pk)).values_list("action", flat=True))
    assert {"staff.created", "sso.account_created", "sso.signed_in"} <= set(actions)
    assert client.get("/tickets/").status_code == 200
    # PKCE: the token request carried the verifier of the challenge the provider saw
    assert oidc.token_requests[-1]["code_verifier"]
    # the local password is off: the password step points to single sign-on
    refused = Client().post("/login/", {"username": "zhang.wei", "password": "anything"})
    assert refused.status_code == 200
    assert "企业微信登录".encode() in refused.content
    assert "停用本地密码".encode() in refused.content


def test_groups_keep_the_account_up_to_date(oidc: StubProvider, team: Any, other_team: Any) -> None:
    _sso(Client(), oidc, _claims())
    _sso(Client(), oidc, _claims(groups=["/kefu/leads", "team-two"], name="张伟（组长）"))
    user = User.objects.get(username="zhang.wei")
    assert (user.role, user.team, user.display_name) == ("team_lead", other_team, "张伟（组长）")
    updated = AuditLog.objects.get(action="staff.updated", object_id=str(user.pk))
    assert updated.actor is None
    assert updated.data["after"]["role"] == "team_lead"
    # the same again changes nothing and writes no staff row
    _sso(Client(), oidc, _claims(groups=["/kefu/leads", "team-two"], name="张伟（组长）"))
    assert AuditLog.objects.filter(action="staff.updated", object_id=str(user.pk)).count() == 1


def test_a_person_in_no_mapped_group_is_refused_with_the_reason(oidc: StubProvider) -> None:
    refused = _sso(Client(), oidc, _claims(groups=["finance"]))
    assert refused.status_code == 200
    assert "不在任何已授权".encode() in refused.content
    assert not User.objects.filter(username="zhang.wei").exists()
    assert AuditLog.objects.filter(action="sso.refused").exists()


def test_a_token_not_signed_by_the_provider_is_refused(oidc: StubProvider, team: Any) -> None:
    oidc.sign_with_other_key = True
    refused = _sso(Client(), oidc, _claims())
    assert refused.status_code == 200
    assert b'data-testid="signin-notice"' in refused.content
    assert not User.objects.filter(username="zhang.wei").exists()


def test_a_provider_that_fails_gives_a_page_not_a_server_error(oidc: StubProvider, team: Any) -> None:
    oidc.token_status = 500
    refused = _sso(Client(), oidc, _claims())
    assert refused.status_code == 200
    assert b'data-testid="signin-notice"' in refused.content
    # a callback without its state (replayed, or forged) is refused too
    assert Client().get("/sso/oidc/callback/", {"code": "x", "state": "y"}).status_code in (200, 400)


def test_the_provider_second_factor_counts_only_when_asserted(oidc: StubProvider, team: Any,
                                                              admin_user: Any) -> None:
    tf.role_two_factor_set(actor=admin_user, role="agent", required=True, expected_version=None)
    without = Client()
    answer = _sso(without, oidc, _claims(amr=["pwd"]))
    assert answer["Location"].startswith("/account/two-factor/setup/?next=%2Ftickets%2F")
    assert without.get("/tickets/")["Location"].startswith("/account/two-factor/setup/")
    with_mfa = Client()
    answer = _sso(with_mfa, oidc, _claims(amr=["pwd", "mfa"]))
    assert answer["Location"] == "/tickets/"
    assert with_mfa.get("/tickets/").status_code == 200
    # a person with Kefu's own authenticator is asked for it unless the provider asserted a second factor
    user = User.objects.get(username="zhang.wei")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    assert _sso(Client(), oidc, _claims(amr=["pwd"]))["Location"].startswith("/account/two-factor/verify/")
    with override_settings(KEFU_OIDC_TRUST_MFA=False):
        assert _sso(Client(), oidc, _claims(amr=["mfa"]))["Location"].startswith("/account/two-factor/verify/")


def test_a_deactivated_account_cannot_sign_in_through_the_provider(oidc: StubProvider, team: Any,
                                                                   admin_user: Any) -> None:
    from kefu.accounts.staff import staff_set_active

    client = Client()
    _sso(client, oidc, _claims())
    user = User.objects.get(username="zhang.wei")
    staff_set_active(actor=admin_user, user=user, active=False)
    assert client.get("/tickets/")["Location"].startswith("/login/")  # the open session ends too
    refused = _sso(Client(), oidc, _claims())
    assert "已停用".encode() in refused.content


def test_without_configuration_the_pages_say_so(client: Client) -> None:
    for path in ("/sso/oidc/start/", "/sso/oidc/callback/"):
        page = client.get(path)
        assert page.status_code == 200
        assert "未配置单点登录".encode() in page.content
    assert b"sso-oidc" not in client.get("/login/").content
