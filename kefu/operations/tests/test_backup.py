"""Backup and restore: the backup → wipe → restore round trip gives back every row of every table, every file
byte for byte and the secret key (on the suite's database: SQLite, or PostgreSQL when KEFU_DATABASE_URL is set);
damaged, foreign and newer archives are refused with one line and leave everything as it was."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from kefu.core.models import AuditLog
from kefu.operations import backup
from kefu.operations.backup import BackupError, backup_create, backup_restore, backup_verify

# The tests whose archive must hold their own rows run in a real, committed database (pg_dump reads in a session
# of its own; SQLite's backup API cannot copy through a connection inside a transaction). Those that only need a
# sound archive to refuse stay in the faster test transaction on PostgreSQL, where pg_dump copies the committed,
# migrated database beside it.
committed = pytest.mark.django_db(transaction=True)
pytestmark = [
    pytest.mark.django_db(transaction=connection.vendor == "sqlite"),
    pytest.mark.skipif(connection.vendor == "postgresql" and not shutil.which("pg_dump"),
                       reason="the PostgreSQL client tools (pg_dump, pg_restore, psql) are not installed"),
]

KEY = "backup-test-key-" + "k" * 40
OTHER_KEY = "another-installation-key-" + "o" * 30


@pytest.fixture
def installation(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A data folder and an upload folder of this test's own, the secret key kept in the data folder."""
    data, media = tmp_path / "data", tmp_path / "media"
    data.mkdir()
    media.mkdir()
    settings.DATA_DIR = data
    settings.MEDIA_ROOT = str(media)
    settings.SECRET_KEY = KEY
    (data / "secret_key").write_text(KEY)
    monkeypatch.delenv("KEFU_SECRET_KEY", raising=False)
    return {"data": data, "media": media, "out": tmp_path / "out"}


def _seed(agent: Any, customer: Any, media: Path) -> None:
    from kefu.tickets import services

    ticket = services.ticket_create(actor=agent, subject="空调漏水，请尽快上门", customer=customer)
    services.attachment_add(actor=agent, ticket=ticket, upload=SimpleUploadedFile("现场照片.png", b"\x89PNG" * 300))
    services.attachment_add(actor=agent, ticket=ticket, upload=SimpleUploadedFile("报价.txt", "报价 1200 元".encode()))
    (media / "imports").mkdir()
    (media / "imports" / "客户名单 2026.csv").write_bytes(os.urandom(2048))


def _rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - introspected names
            tables[table] = sorted(cursor.fetchall(), key=repr)
    return tables


def _files(media: Path) -> dict[str, bytes]:
    return {p.relative_to(media).as_posix(): p.read_bytes() for p in sorted(media.rglob("*")) if p.is_file()}


def _without_restore_audit(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    restored = set(AuditLog.objects.filter(action="backup.restored").values_list("pk", flat=True))
    assert len(restored) == 1
    audit = AuditLog._meta.db_table
    return {**rows, audit: [row for row in rows[audit] if row[0] not in restored]}


def _wipe(media: Path, data: Path) -> None:
    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(media)
    media.mkdir()
    (media / "stray.txt").write_text("made after the backup")
    (data / "secret_key").write_text(OTHER_KEY)


def _rewrite(archive: Path, target: Path, change: Any) -> Path:
    """A copy of the archive with `change(name, data) -> (name, data) | None` applied to each member."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(target, "w:gz") as copy:
        for member in source.getmembers():
            handle = source.extractfile(member)
            assert handle is not None
            changed = change(member.name, handle.read())
            if changed is None:
                continue
            info = tarfile.TarInfo(changed[0])
            info.size = len(changed[1])
            copy.addfile(info, io.BytesIO(changed[1]))
    return target


def _edit_manifest(edit: Any) -> Any:
    def change(name: str, data: bytes) -> tuple[str, bytes]:
        if name == "manifest.json":
            manifest = json.loads(data)
            edit(manifest)
            data = json.dumps(manifest).encode()
        return name, data

    return change


def _restore(archive: Path, **options: Any) -> None:
    call_command("restore", str(archive), yes=True, stdout=io.StringIO(), **options)


# --- the round trip ------------------------------------------------------------------------------------------


@committed
def test_backup_wipe_restore_gives_back_every_row_file_and_the_key(installation: dict[str, Path], agent: Any,
                                                                   customer: Any) -> None:
    media, data = installation["media"], installation["data"]
    _seed(agent, customer, media)
    rows, files = _rows(), _files(media)
    assert len(files) == 3
    assert sum(len(v) for v in rows.values()) > 20

    out = io.StringIO()
    call_command("backup", output=str(data), stdout=out)
    archive = next(data.glob("kefu-backup-*.tar.gz"))
    assert f"Backup written: {archive}" in out.getvalue()
    assert archive.stat().st_mode & 0o077 == 0  # it holds the secret key and personal data
    manifest = backup_verify(archive)
    assert manifest.database.vendor == connection.vendor
    assert manifest.database.tables["tickets_ticket"] == 1
    assert manifest.database.migrations["operations"] == ["0001_initial"]
    assert {f.path for f in manifest.files} == {f"media/{name}" for name in files}
    assert all(f.sha256 == hashlib.sha256(files[f.path.removeprefix("media/")]).hexdigest() for f in manifest.files)
    assert AuditLog.objects.filter(action="backup.created", object_id=archive.name).exists()

    _wipe(media, data)
    assert _rows() != rows
    _restore(archive)

    assert _without_restore_audit(_rows()) == rows
    assert _files(media) == files  # byte for byte; the file made after the backup is gone
    assert (data / "secret_key").read_text() == KEY
    assert not [p for p in media.iterdir() if p.name.startswith(".kefu-")]  # no staging left behind
    assert not [p for p in data.iterdir() if p.name.startswith(".kefu-")]


@committed
def test_restore_over_a_newer_database_leaves_exactly_the_archive(installation: dict[str, Path], agent: Any,
                                                                   customer: Any) -> None:
    """An archive older than the code (a migration not applied in it): restored as it is, the extra migration
    to run afterwards is reported; its table from the later migration does not linger (PostgreSQL drops it)."""
    _seed(agent, customer, installation["media"])
    recorder = MigrationRecorder(connection)
    recorder.migration_qs.filter(app="operations", name="0001_initial").delete()
    with connection.schema_editor() as editor:
        from kefu.operations.models import Heartbeat

        editor.delete_model(Heartbeat)
    rows = _rows()
    try:
        result = backup_create(output=installation["out"].parent)
        with connection.schema_editor() as editor:
            editor.create_model(Heartbeat)
        recorder.record_applied("operations", "0001_initial")

        restored = backup_restore(result.path, confirm=lambda manifest, target: True)
        assert restored.pending_migrations == 1
        assert _without_restore_audit(_rows()) == rows
        assert "operations_heartbeat" not in connection.introspection.table_names()
    finally:
        call_command("migrate", "operations", verbosity=0)
    assert "operations_heartbeat" in connection.introspection.table_names()


# --- refusals leave everything as it was ----------------------------------------------------------------------


@pytest.fixture
def made(installation: dict[str, Path], agent: Any, customer: Any) -> dict[str, Any]:
    """A seeded installation, its backup, and what it holds now (which a refused restore must not change)."""
    _seed(agent, customer, installation["media"])
    archive = backup_create(output=installation["data"]).path
    # after the backup: a change a refused restore must keep
    from kefu.tickets import services

    services.ticket_create(actor=agent, subject="备份之后的工单")
    return {**installation, "archive": archive, "rows": _rows(), "files": _files(installation["media"])}


def _unchanged(made: dict[str, Any]) -> None:
    assert _rows() == made["rows"]
    assert _files(made["media"]) == made["files"]
    assert (made["data"] / "secret_key").read_text() == KEY
    assert not [p for p in made["media"].iterdir() if p.name.startswith(".kefu-")]


def _refused(made: dict[str, Any], archive: Path, *words: str) -> str:
    with pytest.raises(CommandError) as caught:
        _restore(archive)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    _unchanged(made)
    return message


def test_a_truncated_archive_is_refused(made: dict[str, Any], tmp_path: Path) -> None:
    data = made["archive"].read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        truncated = tmp_path / f"cut-{cut}.tar.gz"
        truncated.write_bytes(data[:cut])
        _refused(made, truncated, "damaged or incomplete")
        with pytest.raises(BackupError):
            backup_verify(truncated)
    flipped = bytearray(data)
    flipped[len(data) * 2 // 3] ^= 0xFF
    (tmp_path / "flipped.tar.gz").write_bytes(bytes(flipped))
    _refused(made, tmp_path / "flipped.tar.gz")


def test_a_changed_file_in_the_archive_is_refused(made: dict[str, Any], tmp_path: Path) -> None:
    def flip(name: str, data: bytes) -> tuple[str, bytes]:
        return name, (data[:-1] + bytes([data[-1] ^ 1]) if name.endswith(".csv") else data)

    damaged = _rewrite(made["archive"], tmp_path / "damaged.tar.gz", flip)
    with pytest.raises(BackupError) as caught:
        backup_verify(damaged)
    assert "media/imports/客户名单 2026.csv: its content differs from the manifest" in str(caught.value)
    _refused(made, damaged, "fails verification", "客户名单 2026.csv")


def test_a_damaged_database_copy_or_a_missing_member_is_refused(made: dict[str, Any], tmp_path: Path) -> None:
    member = backup.DATABASE_MEMBERS[connection.vendor]

    def drop_database(name: str, data: bytes) -> tuple[str, bytes] | None:
        return None if name == member else (name, data)

    _refused(made, _rewrite(made["archive"], tmp_path / "nodb.tar.gz", drop_database),
             f"{member}: missing from the archive")

    rows = backup_verify(made["archive"]).database.tables["django_migrations"]

    def rows_miscounted(manifest: dict[str, Any]) -> None:
        manifest["database"]["tables"]["django_migrations"] += 1

    _refused(made, _rewrite(made["archive"], tmp_path / "count.tar.gz", _edit_manifest(rows_miscounted)),
             f"table django_migrations: {rows} rows in the database copy, the manifest says {rows + 1}")


def test_an_archive_of_the_other_database_vendor_is_refused(made: dict[str, Any], tmp_path: Path) -> None:
    other = "postgresql" if connection.vendor == "sqlite" else "sqlite"

    def swap_vendor(manifest: dict[str, Any]) -> None:
        manifest["database"]["vendor"] = other

    foreign = _rewrite(made["archive"], tmp_path / "foreign.tar.gz", _edit_manifest(swap_vendor))
    _refused(made, foreign, f"holds a {backup.VENDOR_NAMES[other]} database",
             f"runs on {backup.VENDOR_NAMES[connection.vendor]}")


@committed
def test_an_archive_from_newer_migrations_is_refused(installation: dict[str, Path], agent: Any,
                                                     customer: Any) -> None:
    _seed(agent, customer, installation["media"])
    recorder = MigrationRecorder(connection)
    recorder.record_applied("tickets", "9999_from_a_newer_kefu")
    archive = backup_create(output=installation["data"]).path
    recorder.migration_qs.filter(name="9999_from_a_newer_kefu").delete()
    made = {**installation, "rows": _rows(), "files": _files(installation["media"])}
    assert backup_verify(archive)  # a sound archive, only too new for this code
    _refused(made, archive, "newer Kefu", "tickets.9999_from_a_newer_kefu", "upgrade Kefu first")


def test_an_archive_of_a_newer_format_or_without_a_manifest_is_refused(made: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    def newer(manifest: dict[str, Any]) -> None:
        manifest["format_version"] = 99

    _refused(made, _rewrite(made["archive"], tmp_path / "v99.tar.gz", _edit_manifest(newer)),
             "newer Kefu (backup format 99")
    plain = tmp_path / "plain.tar.gz"
    with tarfile.open(plain, "w:gz") as tar:
        info = tarfile.TarInfo("notes.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    _refused(made, plain, "not a Kefu backup archive")
    not_gzip = tmp_path / "backup.tar.gz"
    not_gzip.write_bytes(b"PK\x03\x04 a zip file")
    _refused(made, not_gzip, "not a Kefu backup archive")
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(gzip.compress(b"\x00" * 100 + b"not a tar"))
    _refused(made, garbage, "is not a Kefu backup archive")


def test_a_member_that_would_leave_the_upload_folder_is_refused(made: dict[str, Any], tmp_path: Path) -> None:
    escape = "media/../../escaped.txt"

    def add_escape(manifest: dict[str, Any]) -> None:
        manifest["files"].append({"path": escape, "size": 3, "sha256": hashlib.sha256(b"bad").hexdigest()})

    edited = _rewrite(made["archive"], tmp_path / "edited.tar.gz", _edit_manifest(add_escape))
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(edited, "r:gz") as source, tarfile.open(evil, "w:gz") as tar:
        for member in source.getmembers():
            tar.addfile(member, source.extractfile(member))
        info = tarfile.TarInfo(escape)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    _refused(made, evil, "a path outside the uploaded files")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (made["media"].parent / "escaped.txt").exists()


def test_bad_paths_are_one_line_errors(made: dict[str, Any], tmp_path: Path) -> None:
    _refused(made, tmp_path / "missing.tar.gz", "no such file")
    _refused(made, tmp_path, "is a folder")
    with pytest.raises(CommandError, match="no such folder"):
        call_command("backup", output=str(tmp_path / "nowhere" / "x.tar.gz"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="nowhere: no such folder"):
        call_command("backup", output=str(tmp_path / "nowhere"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="exists already"):
        call_command("backup", output=str(made["archive"]), stdout=io.StringIO())
    with pytest.raises(CommandError, match="--keep must be 1 or more"):
        call_command("backup", keep=0, stdout=io.StringIO())
    with pytest.raises(CommandError, match="no such file"):
        call_command("backup", verify=str(tmp_path / "missing.tar.gz"), stdout=io.StringIO())


def test_the_command_line_says_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "DJANGO_SETTINGS"))}
    env.update(KEFU_DATA_DIR=str(tmp_path), KEFU_SECRET_KEY="cli-test-" + "x" * 40, KEFU_LOG_LEVEL="ERROR")
    done = subprocess.run([sys.executable, "-m", "kefu.cli", "restore", "--yes", str(tmp_path / "nope.tar.gz")],  # noqa: S603
                          env=env, capture_output=True, text=True, timeout=120, check=False,
                          cwd=django_settings.PROJECT_DIR)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"CommandError: {tmp_path / 'nope.tar.gz'}: no such file"]


def test_restore_asks_and_a_no_changes_nothing(made: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return "no"

    monkeypatch.setattr("builtins.input", answer)
    out = io.StringIO()
    with pytest.raises(CommandError, match="restore cancelled; nothing was changed"):
        call_command("restore", str(made["archive"]), stdout=out)
    assert asked == ["Type yes to restore: "]
    assert "The archive is sound" in out.getvalue()
    assert "every uploaded file and the secret key" in out.getvalue()
    _unchanged(made)


def test_restore_without_a_terminal_needs_yes(made: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    with pytest.raises(CommandError, match="add --yes"):
        call_command("restore", str(made["archive"]), stdout=io.StringIO())
    _unchanged(made)


def test_verify_changes_nothing_and_reports_the_archive(made: dict[str, Any]) -> None:
    for command, options in (("backup", {"verify": str(made["archive"])}),
                             ("restore", {"archive": str(made["archive"]), "verify_only": True})):
        out = io.StringIO()
        if command == "restore":
            call_command(command, options.pop("archive"), stdout=out, **options)
        else:
            call_command(command, stdout=out, **options)
        assert ": sound (" in out.getvalue()
        assert "3 files" in out.getvalue()
    _unchanged(made)


@committed
def test_a_key_set_in_the_environment_is_named_when_it_differs(made: dict[str, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_SECRET_KEY", OTHER_KEY)
    out = io.StringIO()
    call_command("restore", str(made["archive"]), yes=True, stdout=out)
    assert "KEFU_SECRET_KEY is set and differs from the backup's key" in out.getvalue()
    assert (made["data"] / "secret_key").read_text() == KEY


def test_keep_removes_the_oldest_archives(installation: dict[str, Path]) -> None:
    folder = installation["out"]
    folder.mkdir()
    start = timezone.now()
    paths = [backup_create(output=folder, keep=2, now=start + timedelta(minutes=i)).path for i in range(3)]
    remaining = sorted(folder.glob("kefu-backup-*.tar.gz"))
    assert remaining == paths[1:]
    assert not [p for p in folder.iterdir() if p.name.startswith(".kefu-")]


def test_a_full_disk_or_a_failing_database_is_one_line_and_leaves_no_part(installation: dict[str, Path],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder = installation["out"]
    folder.mkdir()
    real_open = tarfile.open

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        archive = real_open(*args, **kwargs)

        def addfile(*a: Any, **k: Any) -> None:
            raise OSError(28, "No space left on device")

        archive.addfile = addfile  # type: ignore[method-assign]
        return archive

    monkeypatch.setattr(tarfile, "open", full_disk)
    with pytest.raises(CommandError) as caught:
        call_command("backup", output=str(folder), stdout=io.StringIO())
    assert str(caught.value) == f"cannot write the backup to {folder}: No space left on device"
    assert list(folder.iterdir()) == []  # neither a partial archive nor the database copy
    monkeypatch.undo()

    def gone(self: Any, target: Path) -> Any:
        raise connection.Database.OperationalError("server closed the connection unexpectedly\n\tmore")

    monkeypatch.setattr(type(backup.engine_for(connection.vendor)), "dump", gone)
    with pytest.raises(CommandError) as caught:
        call_command("backup", output=str(folder), stdout=io.StringIO())
    assert str(caught.value) == "the database: server closed the connection unexpectedly"
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's backup API copies through Kefu's own connection")
def test_a_sqlite_backup_inside_a_transaction_is_refused_not_left_waiting(installation: dict[str, Path]) -> None:
    from django.db import transaction

    with transaction.atomic(), pytest.raises(BackupError, match="cannot run inside a database transaction"):
        backup_create(output=installation["data"])
    assert not list(installation["data"].glob("*.tar.gz"))
