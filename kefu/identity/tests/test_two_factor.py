"""Two-factor sign-in: setting up an authenticator on the pages (codes computed from the secret shown, for a frozen
clock), the second step after the password, recovery codes used once, the bounds on guessing, the per-role
requirement (pages, django-admin, sessions already open), the API and the websocket refusing a half-signed-in
session, and the audit rows of each."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from kefu.accounts.choices import Role
from kefu.apiutils.testing import api_as, assert_error_shape
from kefu.core.errors import Conflict, PermissionDenied
from kefu.core.models import AuditLog
from kefu.core.testing import FRAME_WAIT
from kefu.identity import second_factor as tf
from kefu.identity.models import RoleTwoFactorRule
from kefu.identity.tests.conftest import code_for, sign_in

pytestmark = pytest.mark.django_db


def _actions(user: Any) -> list[str]:
    return list(AuditLog.objects.filter(object_type="accounts.user", object_id=str(user.pk))
                .order_by("pk").values_list("action", flat=True))


def _require(role: str, admin: Any) -> None:
    tf.role_two_factor_set(actor=admin, role=role, required=True, expected_version=None)


class TestEnrolment:
    def test_setup_page_shows_a_qr_code_and_the_secret_and_a_code_from_it_enables_two_factor(
            self, agent: Any, clock: Any, enrol: Any) -> None:
        client = Client()
        client.force_login(agent)
        page = client.get("/account/two-factor/setup/")
        assert page.status_code == 200
        assert b"<svg" in page.content
        assert b'data-testid="setup-qr"' in page.content
        assert b"Kefu:agent" in page.content
        _secret, codes = enrol(client)
        device = TOTPDevice.objects.get(user=agent)
        assert device.confirmed
        assert len(set(codes)) == 10
        # recovery codes are stored as keyed hashes, never in clear
        stored = set(StaticToken.objects.filter(device__user=agent).values_list("token", flat=True))
        assert len(stored) == 10
        assert not stored & {c.replace("-", "") for c in codes}
        assert "two_factor.enrolled" in _actions(agent)
        # the session that enrolled is fully signed in; the account page says two-factor is on
        assert b'data-testid="two-factor-on"' in client.get("/account/two-factor/").content

    def test_a_reload_shows_the_same_secret_and_a_wrong_code_enables_nothing(self, agent: Any, clock: Any) -> None:
        client = Client()
        client.force_login(agent)
        first = client.get("/account/two-factor/setup/").content
        again = client.get("/account/two-factor/setup/").content
        from kefu.identity.tests.conftest import secret_of

        assert secret_of(first) == secret_of(again)
        for bad in ("000000" if code_for(secret_of(first), clock) != "000000" else "111111", "abc", "", "9" * 40):
            response = client.post("/account/two-factor/setup/", {"code": bad})
            assert response.status_code in (422, 429), bad
        assert not TOTPDevice.objects.filter(user=agent, confirmed=True).exists()
        assert "two_factor.enrolment_failed" in _actions(agent)


class TestSecondStep:
    def test_password_then_code_signs_in_and_until_then_every_page_is_closed(
            self, agent: Any, clock: Any, enrol: Any) -> None:
        setup = Client()
        setup.force_login(agent)
        secret, _codes = enrol(setup)

        client = Client()
        response = sign_in(client, "agent", next_url="/tickets/")
        assert response.status_code == 302
        assert response["Location"].startswith("/account/two-factor/verify/?next=%2Ftickets%2F")
        # half signed in: pages, django-admin and the API are closed; the second step is open
        for path in ("/", "/tickets/", "/admin/", "/account/password/", "/django-admin/"):
            refused = client.get(path)
            assert refused.status_code == 302, path
            assert refused["Location"].startswith("/account/two-factor/verify/"), path
        api = client.get("/api/v1/me")
        assert_error_shape(api, 403, "two_factor_required")
        assert client.get("/account/two-factor/verify/").status_code == 200

        wrong = "000000" if code_for(secret, clock) != "000000" else "111111"
        assert client.post("/account/two-factor/verify/", {"code": wrong}).status_code == 422
        clock.advance(1)  # django-otp's throttle: one second after the first wrong code
        done = client.post("/account/two-factor/verify/", {"code": code_for(secret, clock), "next": "/tickets/"})
        assert done.status_code == 302
        assert done["Location"] == "/tickets/"
        assert client.get("/tickets/").status_code == 200
        assert client.get("/api/v1/me").status_code == 200
        actions = _actions(agent)
        assert "two_factor.failed" in actions
        assert actions[-1] == "two_factor.verified"

    def test_a_code_is_accepted_once(self, agent: Any, clock: Any, enrol: Any) -> None:
        setup = Client()
        setup.force_login(agent)
        secret, _codes = enrol(setup)
        code = code_for(secret, clock)
        first = Client()
        sign_in(first, "agent")
        assert first.post("/account/two-factor/verify/", {"code": code}).status_code == 302
        second = Client()
        sign_in(second, "agent")
        assert second.post("/account/two-factor/verify/", {"code": code}).status_code == 422  # replayed

    def test_recovery_codes_work_once_each(self, agent: Any, clock: Any, enrol: Any) -> None:
        setup = Client()
        setup.force_login(agent)
        _secret, codes = enrol(setup)
        client = Client()
        sign_in(client, "agent")
        used = client.post("/account/two-factor/verify/", {"code": codes[0].upper(), "mode": "recovery"})
        assert used.status_code == 302
        assert client.get("/").status_code == 200
        assert tf.recovery_codes_left(agent) == 9
        assert "two_factor.recovery_code_used" in _actions(agent)

        clock.advance(60)
        again = Client()
        sign_in(again, "agent")
        assert again.post("/account/two-factor/verify/", {"code": codes[0]}).status_code == 422
        clock.advance(60)
        assert again.post("/account/two-factor/verify/", {"code": codes[1].replace("-", "")}).status_code == 302

    def test_regenerated_codes_replace_the_old_ones(self, agent: Any, clock: Any, enrol: Any) -> None:
        client = Client()
        client.force_login(agent)
        _secret, old = enrol(client)
        page = client.post("/account/two-factor/recovery-codes/")
        assert page.status_code == 200
        assert client.get("/").status_code == 200  # still fully signed in
        other = Client()
        sign_in(other, "agent")
        assert other.post("/account/two-factor/verify/", {"code": old[2]}).status_code == 422
        assert "two_factor.recovery_codes_regenerated" in _actions(agent)

    def test_guessing_is_bounded_per_device_and_per_session(self, agent: Any, clock: Any, enrol: Any) -> None:
        setup = Client()
        setup.force_login(agent)
        secret, _codes = enrol(setup)
        right = code_for(secret, clock)
        wrong = "123456" if right != "123456" else "654321"
        client = Client()
        sign_in(client, "agent")
        assert client.post("/account/two-factor/verify/", {"code": wrong}).status_code == 422
        # django-otp's throttle: right after a wrong code even the right one is refused, with the time to wait
        throttled = client.post("/account/two-factor/verify/", {"code": right})
        assert throttled.status_code == 429
        assert b"09:00:31" in throttled.content
        for _ in range(3):
            clock.advance(60)  # past the device's wait (2^(n-1) s), well inside the session's idle limit
            assert client.post("/account/two-factor/verify/", {"code": wrong}).status_code == 422
        clock.advance(60)
        ended = client.post("/account/two-factor/verify/", {"code": wrong})
        assert ended.status_code == 200
        assert "请重新输入密码登录".encode() in ended.content
        assert client.get("/").status_code == 302
        assert client.get("/")["Location"].startswith("/login/")
        assert "two_factor.session_ended" in _actions(agent)

    def test_a_verified_session_stays_verified_and_a_new_password_sign_in_asks_again(
            self, agent: Any, clock: Any, enrol: Any) -> None:
        client = Client()
        client.force_login(agent)
        enrol(client)
        assert client.get("/").status_code == 200
        client.logout()
        sign_in(client, "agent")
        assert client.get("/")["Location"].startswith("/account/two-factor/verify/")


class TestRequiredPerRole:
    def test_a_role_that_requires_two_factor_goes_to_setup_after_the_password(
            self, agent: Any, other_agent: Any, team_lead: Any, admin_user: Any, clock: Any) -> None:
        _require("agent", admin_user)
        client = Client()
        response = sign_in(client, "agent", next_url="/tickets/")
        assert response["Location"].startswith("/account/two-factor/setup/?next=%2Ftickets%2F")
        for path in ("/", "/tickets/", "/django-admin/", "/account/two-factor/"):
            assert client.get(path)["Location"].startswith("/account/two-factor/setup/"), path
        assert_error_shape(client.get("/api/v1/me"), 403, "two_factor_required")
        page = client.get("/account/two-factor/setup/")
        assert page.status_code == 200
        assert b'data-testid="setup-required"' in page.content
        from kefu.identity.tests.conftest import secret_of

        done = client.post("/account/two-factor/setup/", {"code": code_for(secret_of(page.content), clock),
                                                          "next": "/tickets/"})
        assert done.status_code == 200
        assert b'href="/tickets/"' in done.content
        assert client.get("/tickets/").status_code == 200
        # another role is not concerned
        lead = Client()
        assert sign_in(lead, "lead")["Location"] == "/"
        assert lead.get("/").status_code == 200

    def test_sessions_already_open_are_sent_to_setup_when_the_role_becomes_required(
            self, agent: Any, admin_user: Any) -> None:
        client = Client()
        sign_in(client, "agent")
        assert client.get("/").status_code == 200
        _require("agent", admin_user)
        assert client.get("/")["Location"].startswith("/account/two-factor/setup/")

    def test_one_cannot_switch_off_a_required_second_factor(self, agent: Any, admin_user: Any, clock: Any,
                                                             enrol: Any) -> None:
        client = Client()
        client.force_login(agent)
        secret, _codes = enrol(client)
        _require("agent", admin_user)
        client.post("/account/two-factor/disable/", {"code": code_for(secret, clock)})
        assert TOTPDevice.objects.filter(user=agent, confirmed=True).exists()

    def test_one_can_switch_off_an_optional_second_factor_with_a_current_code(
            self, agent: Any, clock: Any, enrol: Any) -> None:
        client = Client()
        client.force_login(agent)
        secret, _codes = enrol(client)
        client.post("/account/two-factor/disable/", {"code": "12"})
        assert TOTPDevice.objects.filter(user=agent).exists()
        clock.advance(30)
        client.post("/account/two-factor/disable/", {"code": code_for(secret, clock)})
        assert not TOTPDevice.objects.filter(user=agent).exists()
        assert "two_factor.removed" in _actions(agent)
        assert client.get("/").status_code == 200

    def test_the_rule_is_set_on_the_administration_page_with_its_version(self, admin_user: Any,
                                                                         manager: Any) -> None:
        client = Client()
        client.force_login(admin_user)
        page = client.get("/admin/two-factor/")
        assert page.status_code == 200
        form = {f"version_{r['role']}": r["version"] for r in tf.rules()}
        saved = client.post("/admin/two-factor/", {**form, "required_qa": "1", "required_manager": "1"})
        assert saved.status_code == 302
        assert tf.required_roles() == {"qa", "manager"}
        # the versions read before: nothing is written, not even the role whose version is still right
        stale = client.post("/admin/two-factor/", {**form, "required_qa": "1", "required_team_lead": "1"})
        assert stale.status_code == 409
        assert tf.required_roles() == {"qa", "manager"}
        rows = AuditLog.objects.filter(action="signin_policy.two_factor_rule_set")
        assert sorted(r.data["role"] for r in rows) == ["manager", "qa"]
        assert all(r.actor_id == admin_user.pk for r in rows)
        junk = client.post("/admin/two-factor/", {"required_agent": "1"})  # no versions: refused, nothing written
        assert junk.status_code == 422
        assert tf.required_roles() == {"qa", "manager"}
        # requiring it of one's own role applies to oneself at once: the administrator is sent to set it up
        client.post("/admin/two-factor/", {**{f"version_{r['role']}": r["version"] for r in tf.rules()},
                                         "required_qa": "1", "required_manager": "1", "required_admin": "1"})
        assert client.get("/admin/two-factor/")["Location"].startswith("/account/two-factor/setup/")
        manager_client = Client()
        manager_client.force_login(manager)
        # a manager is sent to set up two-factor first; with no right to the page even then
        assert manager_client.get("/admin/two-factor/").status_code == 302

    def test_only_administrators_set_the_rule(self, manager: Any) -> None:
        with pytest.raises(PermissionDenied):
            tf.role_two_factor_set(actor=manager, role="agent", required=True, expected_version=None)


class TestAdministratorReset:
    def test_an_administrator_resets_a_lost_phone_and_the_person_sets_up_again(
            self, agent: Any, admin_user: Any, clock: Any, enrol: Any) -> None:
        client = Client()
        client.force_login(agent)
        enrol(client)
        _require("agent", admin_user)
        admin = Client()
        admin.force_login(admin_user)
        assert admin.post(f"/admin/two-factor/people/{agent.pk}/two-factor/reset/").status_code == 302
        assert not TOTPDevice.objects.filter(user=agent).exists()
        assert tf.recovery_codes_left(agent) == 0
        reset = AuditLog.objects.get(action="two_factor.reset")
        assert reset.actor_id == admin_user.pk
        assert reset.object_id == str(agent.pk)
        # the session verified with the removed device is verified no more: the role sends it to setup
        assert client.get("/")["Location"].startswith("/account/two-factor/setup/")

    def test_only_administrators_reset(self, agent: Any, manager: Any) -> None:
        with pytest.raises(PermissionDenied):
            tf.two_factor_reset(actor=manager, user=agent)
        client = Client()
        client.force_login(manager)
        assert client.post(f"/admin/two-factor/people/{agent.pk}/two-factor/reset/").status_code == 403


class TestApi:
    def test_rules_and_reset_through_the_api(self, agent: Any, admin_user: Any, manager: Any) -> None:
        api = api_as(admin_user)
        rules = api.get("/security/two-factor-rules").json()
        assert {r["role"] for r in rules} == set(Role.values)
        assert not any(r["required"] for r in rules)
        changed = api.request("put", "/security/two-factor-rules", {"role": "agent", "required": True, "version": 1})
        assert changed.status_code == 200
        assert changed.json()["required"] is True
        assert changed.json()["version"] == 2
        stale = api.request("put", "/security/two-factor-rules", {"role": "agent", "required": False, "version": 1})
        assert_error_shape(stale, 409, "stale_version")
        bad = api.request("put", "/security/two-factor-rules", {"role": "king", "required": True})
        assert_error_shape(bad, 422)
        assert RoleTwoFactorRule.objects.get(role="agent").required
        person = api.get(f"/security/people/{agent.pk}/sign-in").json()
        assert person["two_factor_required"] is True
        assert person["two_factor_enrolled"] is False
        assert api.delete(f"/security/people/{agent.pk}/two-factor").status_code == 200
        assert_error_shape(api.get("/security/people/999999/sign-in"), 404)
        assert_error_shape(api_as(manager).get("/security/two-factor-rules"), 403)

    def test_a_token_is_its_own_credential_and_a_half_signed_in_session_is_refused(
            self, agent: Any, admin_user: Any, clock: Any, enrol: Any) -> None:
        """API tokens are created from a fully signed-in session only; a token works without a code, the
        half-signed-in session does not, even beside a token."""
        setup = Client()
        setup.force_login(agent)
        enrol(setup)
        half = Client()
        sign_in(half, "agent")
        assert_error_shape(half.post("/api/v1/me/tokens", {"name": "x"}, content_type="application/json"), 403,
                           "two_factor_required")
        token = api_as(agent).token
        with_token = half.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert with_token.status_code == 200
        bad_token = half.get("/api/v1/me", headers={"Authorization": "Bearer kefu_not-a-token"})
        assert bad_token.status_code == 401  # the half-signed-in session does not stand in for a bad token


@pytest.mark.django_db(transaction=True)
class TestWebsocket:
    def _connect(self, client: Client) -> dict[str, Any]:
        from kefu.config.asgi import application

        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        scope = {"type": "websocket", "path": "/ws/workspace/", "query_string": b"", "subprotocols": [],
                 "headers": [(b"cookie", cookie.encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")]}

        async def run() -> dict[str, Any]:
            communicator = ApplicationCommunicator(application, scope)
            await communicator.send_input({"type": "websocket.connect"})
            answer = await communicator.receive_output(timeout=FRAME_WAIT)
            if answer["type"] == "websocket.accept":
                await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
                await communicator.wait(timeout=FRAME_WAIT)
            return answer  # type: ignore[no-any-return]

        return async_to_sync(run)()

    def test_the_websocket_refuses_a_half_signed_in_session(self, agent: Any, clock: Any, enrol: Any) -> None:
        setup = Client()
        setup.force_login(agent)
        secret, _codes = enrol(setup)
        assert self._connect(setup)["type"] == "websocket.accept"
        half = Client()
        sign_in(half, "agent")
        assert self._connect(half) == {"type": "websocket.close", "code": 4401}
        half.post("/account/two-factor/verify/", {"code": code_for(secret, clock)})
        assert self._connect(half)["type"] == "websocket.accept"


def test_services_refuse_bad_input(agent: Any, admin_user: Any) -> None:
    from kefu.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        tf.role_two_factor_set(actor=admin_user, role="king", required=True, expected_version=None)
    with pytest.raises(ValidationFailed):
        tf.role_two_factor_set(actor=admin_user, role="agent", required="yes", expected_version=None)  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        tf.role_two_factor_set(actor=admin_user, role="agent", required=True, expected_version=7)
    assert not RoleTwoFactorRule.objects.exists()


def test_the_local_password_is_switched_off_only_where_single_sign_on_is_configured(agent: Any,
                                                                                     admin_user: Any) -> None:
    from django.test import override_settings

    from kefu.identity.sso import local_password_set

    admin = Client()
    admin.force_login(admin_user)
    admin.post(f"/admin/two-factor/people/{agent.pk}/local-password/", {"disabled": "1"})
    assert not tf_local_disabled(agent)  # no single sign-on: the person would be locked out
    with override_settings(KEFU_LDAP_ENABLED=True):
        assert admin.post(f"/admin/two-factor/people/{agent.pk}/local-password/", {"disabled": "x"}).status_code == 302
        assert not tf_local_disabled(agent)
        admin.post(f"/admin/two-factor/people/{agent.pk}/local-password/", {"disabled": "1"})
        assert tf_local_disabled(agent)
        with pytest.raises(Conflict):
            local_password_set(actor=admin_user, user=admin_user, disabled=True)
    refused = Client().post("/login/", {"username": "agent", "password": "pass"})
    assert refused.status_code == 200
    assert "停用本地密码".encode() in refused.content
    assert "signin_policy.local_password_disabled" in _actions(agent)
    admin.post(f"/admin/two-factor/people/{agent.pk}/local-password/", {"disabled": "0"})
    assert Client().post("/login/", {"username": "agent", "password": "pass"}).status_code == 302


def tf_local_disabled(user: Any) -> bool:
    from kefu.identity.sso import local_password_disabled

    return local_password_disabled(user)
