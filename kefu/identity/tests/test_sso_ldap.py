"""LDAP / Active Directory sign-in against a REAL OpenLDAP server: the test starts its own slapd (Debian's
`slapd` package) on a free loopback port with a temporary configuration and directory, loads people and groups,
and signs in on Kefu's sign-in page with the directory password. No system service and no root-only path is used;
without slapd the tests are skipped and say why (scripts/setup.sh --dev installs it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from kefu.accounts.models import User
from kefu.core.models import AuditLog
from kefu.identity import configuration
from kefu.identity import second_factor as tf
from kefu.identity.models import SignInSettings

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
SCHEMAS = Path("/etc/ldap/schema")
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.xdist_group("ldap"),
    pytest.mark.skipif(SLAPD is None or not (SCHEMAS / "core.schema").exists(),
                       reason="OpenLDAP's slapd is not installed (apt-get install slapd ldap-utils, or "
                              "scripts/setup.sh --dev)"),
]
BASE = "dc=kefu,dc=test"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "directory-admin-secret"
START_SECONDS = 30  # how long slapd may take to answer on a busy machine (the wait ends as soon as it does)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(folder: Path) -> Path:
    modules = next((p for p in (Path("/usr/lib/ldap"), Path("/usr/lib/x86_64-linux-gnu/ldap")) if p.exists()), None)
    lines = [f"include {SCHEMAS / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")]
    if modules is not None:
        lines += [f"modulepath {modules}", "moduleload back_mdb"]
    lines += [
        f"pidfile {folder / 'slapd.pid'}",
        f"argsfile {folder / 'slapd.args'}",
        "database mdb",
        "maxsize 16777216",
        f'suffix "{BASE}"',
        f'rootdn "{ADMIN_DN}"',
        f"rootpw {ADMIN_PASSWORD}",
        f"directory {folder / 'data'}",
        "access to attrs=userPassword by anonymous auth by self write by * none",
        "access to * by * read",
    ]
    (folder / "data").mkdir()
    path = folder / "slapd.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def _person(uid: str, name: str, password: str) -> tuple[str, list[tuple[str, list[bytes]]]]:
    return f"uid={uid},ou=people,{BASE}", [
        ("objectClass", [b"inetOrgPerson"]), ("uid", [uid.encode()]), ("cn", [name.encode()]),
        ("sn", [name[:1].encode()]), ("mail", [f"{uid}@kefu.test".encode()]), ("userPassword", [password.encode()])]


def _group(name: str, members: list[str]) -> tuple[str, list[tuple[str, list[bytes]]]]:
    return f"cn={name},ou=groups,{BASE}", [("objectClass", [b"groupOfNames"]), ("cn", [name.encode()]),
                                           ("member", [m.encode() for m in members])]


LINA = f"uid=lina,ou=people,{BASE}"
WANG = f"uid=wangqiang,ou=people,{BASE}"
LONER = f"uid=loner,ou=people,{BASE}"


class Directory:
    def __init__(self, uri: str) -> None:
        self.uri = uri

    def connect(self) -> Any:
        import ldap

        connection = ldap.initialize(self.uri)
        connection.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
        return connection

    def set_members(self, group: str, members: list[str]) -> None:
        import ldap

        connection = self.connect()
        connection.modify_s(f"cn={group},ou=groups,{BASE}",
                            [(ldap.MOD_REPLACE, "member", [m.encode() for m in members])])
        connection.unbind_s()

    def environment(self) -> dict[str, str]:
        return {
            "KEFU_LDAP_SERVER_URI": self.uri, "KEFU_LDAP_BIND_DN": ADMIN_DN, "KEFU_LDAP_BIND_PASSWORD": ADMIN_PASSWORD,
            "KEFU_LDAP_USER_SEARCH_BASE": f"ou=people,{BASE}", "KEFU_LDAP_USER_FILTER": "(uid=%(user)s)",
            "KEFU_LDAP_GROUP_SEARCH_BASE": f"ou=groups,{BASE}", "KEFU_LDAP_GROUP_TYPE": "groupOfNames",
            "KEFU_SSO_GROUP_ROLES": "kefu-leads=team_lead;kefu-agents=agent",
            "KEFU_SSO_GROUP_TEAMS": "team-one=客服一组",
        }


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    import ldap
    import ldap.modlist

    folder = tmp_path_factory.mktemp("slapd")
    config = _config(folder)
    port = _free_port()
    uri = f"ldap://127.0.0.1:{port}"
    log = (folder / "slapd.log").open("w")
    # -d 0: stay in the foreground (no fork, no pid games), log nothing extra
    process = subprocess.Popen([SLAPD, "-f", str(config), "-h", f"{uri}/", "-d", "0"],  # noqa: S603
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                connection = ldap.initialize(uri)
                connection.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
                break
            except ldap.SERVER_DOWN:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("slapd did not start: " + (folder / "slapd.log").read_text()) from None
                time.sleep(0.05)
        entries = [
            (BASE, [("objectClass", [b"dcObject", b"organization"]), ("dc", [b"kefu"]), ("o", [b"Kefu Test"])]),
            (f"ou=people,{BASE}", [("objectClass", [b"organizationalUnit"]), ("ou", [b"people"])]),
            (f"ou=groups,{BASE}", [("objectClass", [b"organizationalUnit"]), ("ou", [b"groups"])]),
            _person("lina", "李娜", "Lina-Directory-1"),
            _person("wangqiang", "王强", "Wang-Directory-1"),
            _person("loner", "孤独", "Loner-Directory-1"),
            _group("kefu-agents", [LINA, WANG]),
            _group("kefu-leads", [ADMIN_DN]),
            _group("team-one", [LINA]),
        ]
        for dn, attrs in entries:
            connection.add_s(dn, attrs)
        connection.unbind_s()
        yield Directory(uri)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def ldap_on(directory: Directory) -> Iterator[Directory]:
    env = directory.environment()
    settings = {**configuration.ldap_settings(env), **configuration.mapping_settings(env),
                "AUTHENTICATION_BACKENDS": configuration.authentication_backends(oidc=False, ldap=True)}
    directory.set_members("kefu-leads", [ADMIN_DN])
    with override_settings(**settings):
        yield directory


def test_a_directory_person_signs_in_with_the_directory_password(ldap_on: Directory, team: Any) -> None:
    client = Client()
    wrong = client.post("/login/", {"username": "lina", "password": "not-her-password"})
    assert wrong.status_code == 200
    assert "用户名或密码不正确".encode() in wrong.content
    assert not User.objects.filter(username="lina").exists()
    done = client.post("/login/", {"username": "lina", "password": "Lina-Directory-1"})
    assert done.status_code == 302
    assert done["Location"] == "/"
    user = User.objects.get(username="lina")
    assert (user.role, user.team, user.display_name, user.email) == ("agent", team, "李娜", "lina@kefu.test")
    assert not user.must_change_password
    assert not user.has_usable_password()
    link = SignInSettings.objects.get(user=user)
    assert (link.source, link.external_subject, link.local_password_disabled) == ("ldap", LINA, True)
    actions = set(AuditLog.objects.filter(object_id=str(user.pk)).values_list("action", flat=True))
    assert {"staff.created", "sso.account_created", "sso.signed_in"} <= actions
    assert client.get("/tickets/").status_code == 200
    # the next sign-in finds the same account, with its directory password only
    again = Client()
    assert again.post("/login/", {"username": "LINA", "password": "Lina-Directory-1"}).status_code == 302
    assert User.objects.filter(username__iexact="lina").count() == 1


def test_directory_groups_keep_the_role_up_to_date(ldap_on: Directory, team: Any) -> None:
    Client().post("/login/", {"username": "wangqiang", "password": "Wang-Directory-1"})
    assert User.objects.get(username="wangqiang").role == "agent"
    ldap_on.set_members("kefu-leads", [ADMIN_DN, WANG])
    Client().post("/login/", {"username": "wangqiang", "password": "Wang-Directory-1"})
    user = User.objects.get(username="wangqiang")
    assert user.role == "team_lead"
    assert AuditLog.objects.get(action="staff.updated", object_id=str(user.pk)).data["after"]["role"] == "team_lead"


def test_a_person_in_no_mapped_group_is_told_why(ldap_on: Directory) -> None:
    refused = Client().post("/login/", {"username": "loner", "password": "Loner-Directory-1"})
    assert refused.status_code == 200
    assert "不在任何已授权".encode() in refused.content
    assert not User.objects.filter(username="loner").exists()
    assert AuditLog.objects.filter(action="sso.refused", object_id="loner").exists()


def test_directory_sign_in_goes_through_the_second_step(ldap_on: Directory, team: Any, admin_user: Any) -> None:
    tf.role_two_factor_set(actor=admin_user, role="agent", required=True, expected_version=None)
    client = Client()
    done = client.post("/login/", {"username": "lina", "password": "Lina-Directory-1"})
    assert done["Location"].startswith("/account/two-factor/setup/")
    assert client.get("/tickets/")["Location"].startswith("/account/two-factor/setup/")
