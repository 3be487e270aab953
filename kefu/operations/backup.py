"""Backups of an installation (`kefu backup`, `kefu restore`): one .tar.gz archive holding the database, the
uploaded files and the secret key, with a manifest to check it against without touching the live system.

The archive's members, in this order:
  manifest.json      format, Kefu version, created_at, database vendor, migrations per app, rows per table, and
                     every member below with its size and SHA-256
  secret_key         the installation's SECRET_KEY
  database.sqlite3   SQLite: a copy made with SQLite's online backup API (consistent while Kefu runs, in WAL mode)
  database.pgdump    PostgreSQL: `pg_dump -Fc` of one snapshot, the row counts read in that same snapshot
  media/…            the uploaded files (MEDIA_ROOT)

A restore reads and checks the whole archive into a staging place first (the database copy beside the data, the
files inside MEDIA_ROOT), then swaps: the database in one transaction (SQLite's backup API into the live database;
on PostgreSQL `pg_restore --clean --if-exists` piped into one `psql --single-transaction`), the files by renames,
the secret key by an atomic replace. A refused or failed restore leaves the installation as it was.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, ParamSpec, Protocol, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import kefu
from kefu.core.audit import audit_record

FORMAT: Literal["kefu-backup"] = "kefu-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SECRET_KEY_MEMBER = "secret_key"  # noqa: S105 - the member's name, not a key
MEDIA_PREFIX = "media/"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
VENDOR_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
ARCHIVE_PATTERN = "kefu-backup-*.tar.gz"
STAGING_PREFIX = ".kefu-"  # staging folders of a backup or restore under way (never backed up themselves)
MANIFEST_MAX_BYTES = 256 * 1024 * 1024
SECRET_KEY_MAX_BYTES = 64 * 1024
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup, verification or restore that was refused or failed. `str()` is one line for the operator;
    `problems` lists every problem a verification found."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


P = ParamSpec("P")
R = TypeVar("R")


def _operator_errors(function: Callable[P, R]) -> Callable[P, R]:
    """What the file system or a database answers unexpectedly (a full disk, a server gone) becomes one line."""

    @wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except BackupError:
            raise
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise BackupError(f"{where}{_reason(exc)}") from None
        except (sqlite3.Error, DatabaseError) as exc:
            raise BackupError(f"the database: {_first_line(str(exc), type(exc).__name__)}") from None
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                raise BackupError(f"the database: {_first_line(str(exc), type(exc).__name__)}") from None
            raise

    return run


# --- the manifest --------------------------------------------------------------------------------------------


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DatabaseEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    vendor: Literal["sqlite", "postgresql"]
    server_version: str = ""
    dump_tool: str = ""  # PostgreSQL: the pg_dump that made the dump
    pg_schema: str = ""  # PostgreSQL: the schema whose tables are counted
    file: FileEntry
    tables: dict[str, int]  # rows per table
    migrations: dict[str, list[str]]  # applied migrations per app


class SecretKeyEntry(FileEntry):
    source: Literal["environment", "file"] = "file"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: Literal["kefu-backup"]
    format_version: int = Field(ge=1)
    kefu_version: str
    created_at: datetime
    database: DatabaseEntry
    secret_key: SecretKeyEntry
    files: list[FileEntry]

    @property
    def rows(self) -> int:
        return sum(self.database.tables.values())

    @property
    def files_size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class DatabaseFacts:
    """What a database (live, or a dump) holds: rows per table and applied migrations per app."""

    tables: dict[str, int]
    migrations: dict[str, list[str]]
    server_version: str = ""
    pg_schema: str = ""


@dataclass
class BackupResult:
    path: Path
    size: int
    manifest: Manifest
    removed: list[Path] = field(default_factory=list)


@dataclass
class RestoreResult:
    manifest: Manifest
    pending_migrations: int  # migrations of this code the archive's database has not applied yet
    notices: list[str] = field(default_factory=list)


# --- small helpers -------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _first_line(text: str | bytes, default: str = "") -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "error" in line]
    return (errors or lines or [default])[0][:300]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _migrations_on_disk() -> set[tuple[str, str]]:
    from django.db.migrations.loader import MigrationLoader

    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def _group_migrations(rows: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for app, name in rows:
        grouped.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(grouped.items())}


def _media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def _data_dir() -> Path:
    return Path(settings.DATA_DIR)


def _secret_key_file() -> Path:
    return _data_dir() / "secret_key"


def _media_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(path in the archive, file) for every uploaded file, in a stable order; staging folders left by an
    interrupted backup or restore are not uploads."""
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if here == root:
            dirs[:] = [d for d in dirs if not d.startswith(STAGING_PREFIX)]
        dirs.sort()
        for name in sorted(files):
            path = here / name
            if path.is_file():
                yield MEDIA_PREFIX + path.relative_to(root).as_posix(), path


def _safe_media_path(name: str) -> PurePosixPath | None:
    """The path under MEDIA_ROOT an archive member names, or None if it would leave it."""
    relative = name[len(MEDIA_PREFIX):]
    path = PurePosixPath(relative)
    if (not relative or "\x00" in relative or path.is_absolute()
            or any(part in ("", ".", "..") for part in relative.split("/"))):
        return None
    if path.parts[0].startswith(STAGING_PREFIX):
        return None
    return path


# --- the databases -------------------------------------------------------------------------------------------


class Engine(Protocol):
    vendor: str

    def check_tools(self, *, restore: bool) -> None: ...
    def dump(self, target: Path) -> DatabaseFacts: ...
    def inspect(self, dump: Path, manifest: Manifest) -> DatabaseFacts: ...
    def load(self, dump: Path, manifest: Manifest) -> None: ...
    def live(self) -> DatabaseFacts: ...
    def describe(self) -> str: ...


def _sqlite_facts(conn: sqlite3.Connection) -> DatabaseFacts:
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY name")]
    tables = {name: int(conn.execute(f"SELECT COUNT(*) FROM {_quote(name)}").fetchone()[0])  # noqa: S608
              for name in names}
    rows = conn.execute("SELECT app, name FROM django_migrations").fetchall() if "django_migrations" in tables else []
    return DatabaseFacts(tables=tables, migrations=_group_migrations(rows), server_version=sqlite3.sqlite_version)


class SqliteEngine:
    """SQLite: the online backup API copies the live database page by page in one read transaction (writers go on
    in WAL mode); a restore copies the checked copy back into the live database in one write transaction."""

    vendor = "sqlite"

    def check_tools(self, *, restore: bool) -> None:
        return None

    def _live_connection(self) -> sqlite3.Connection:
        if connection.in_atomic_block:  # the backup API would wait for this very transaction forever
            raise BackupError("a backup or restore cannot run inside a database transaction")
        connection.ensure_connection()
        raw = connection.connection
        assert isinstance(raw, sqlite3.Connection)
        return raw

    def dump(self, target: Path) -> DatabaseFacts:
        copy = sqlite3.connect(target)
        try:
            self._live_connection().backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            return _sqlite_facts(copy)
        finally:
            copy.close()

    def inspect(self, dump: Path, manifest: Manifest) -> DatabaseFacts:
        try:
            copy = sqlite3.connect(f"{dump.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise BackupError(f"the database copy does not open ({exc})") from None
        try:
            result = copy.execute("PRAGMA quick_check").fetchone()
            if not result or result[0] != "ok":
                raise BackupError(f"the database copy is damaged ({result[0] if result else 'no answer'})")
            return _sqlite_facts(copy)
        except sqlite3.Error as exc:
            raise BackupError(f"the database copy does not open ({exc})") from None
        finally:
            copy.close()

    def load(self, dump: Path, manifest: Manifest) -> None:
        source = sqlite3.connect(dump)
        try:
            source.backup(self._live_connection())  # one step: all pages or none
        except sqlite3.Error as exc:
            raise BackupError(f"the database could not be restored ({exc}); nothing was changed") from None
        finally:
            source.close()

    def live(self) -> DatabaseFacts:
        return _sqlite_facts(self._live_connection())

    def describe(self) -> str:
        return f"SQLite database {connection.settings_dict['NAME']}"


_COPY = re.compile(r'^COPY (?:(?P<schema>"(?:[^"]|"")+"|[^\s."]+)\.)?(?P<table>"(?:[^"]|"")+"|[^\s."(]+)'
                   r'(?: \((?P<columns>.*)\))? FROM stdin;$')


def _unquote(identifier: str) -> str:
    if identifier.startswith('"') and identifier.endswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier


def _tool_major(path: str) -> int:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, check=False).stdout  # noqa: S603
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackupError(f"{Path(path).name} does not run ({exc})") from None
    match = re.search(r"\)\s*(\d+)", out) or re.search(r"(\d+)(?:\.\d+)", out)
    if not match:
        raise BackupError(f"{Path(path).name} did not say its version")
    return int(match.group(1))


class PostgresEngine:
    """PostgreSQL: `pg_dump -Fc` in a snapshot exported by a repeatable-read transaction that also counts the rows;
    a restore pipes `pg_restore --clean --if-exists` into one `psql --single-transaction` (all or nothing)."""

    vendor = "postgresql"

    def _tool(self, name: str) -> str:
        path = shutil.which(name)
        if not path:
            raise BackupError(f"{name} is not installed: install the PostgreSQL client tools "
                              f"(Debian: apt-get install postgresql-client)")
        return path

    def _server_major(self) -> int:
        connection.ensure_connection()
        return int(connection.pg_version) // 10000

    def check_tools(self, *, restore: bool) -> None:
        names = ("pg_restore", "psql") if restore else ("pg_dump",)
        server = self._server_major()
        for name in names:
            major = _tool_major(self._tool(name))
            if major < server:
                raise BackupError(f"{name} {major} is older than the PostgreSQL {server} server: install "
                                  f"postgresql-client-{server}")

    def _params(self) -> dict[str, Any]:
        from psycopg import pq

        valid = {d.keyword.decode() for d in pq.Conninfo.get_defaults()}
        params = connection.get_connection_params()
        return {k: v for k, v in params.items() if k in valid and v not in (None, "")}

    def _conninfo_env(self) -> tuple[str, dict[str, str]]:
        from psycopg.conninfo import make_conninfo

        params = self._params()
        password = params.pop("password", None)
        env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
        if password:
            env["PGPASSWORD"] = str(password)  # never on the command line, where `ps` shows it
        return make_conninfo(**{k: str(v) for k, v in params.items()}), env

    def dump(self, target: Path) -> DatabaseFacts:
        import psycopg

        conninfo, env = self._conninfo_env()
        tool = self._tool("pg_dump")
        with psycopg.connect(conninfo, password=env.get("PGPASSWORD"), autocommit=False) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_export_snapshot(), current_schema(), current_setting('server_version')")
                snapshot, schema, version = cursor.fetchone()  # type: ignore[misc]
                facts = _pg_facts(cursor, schema, version)
                done = subprocess.run(  # noqa: S603 - our own arguments, no shell
                    [tool, "--format=custom", "--no-owner", "--no-acl", f"--snapshot={snapshot}",
                     f"--file={target}", f"--dbname={conninfo}"],
                    env=env, capture_output=True, check=False)
            conn.rollback()
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed: {_first_line(done.stderr, 'no message')}")
        return facts

    def inspect(self, dump: Path, manifest: Manifest) -> DatabaseFacts:
        tool = self._tool("pg_restore")
        listed = subprocess.run([tool, "--list", str(dump)], capture_output=True, check=False)  # noqa: S603
        if listed.returncode != 0:
            raise BackupError(f"the database dump does not open ({_first_line(listed.stderr, 'pg_restore failed')})")
        schema = manifest.database.pg_schema or "public"
        tables: dict[str, int] = {}
        migrations: list[tuple[str, str]] = []
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen([tool, "--data-only", "--file=-", str(dump)],  # noqa: S603
                                       stdout=subprocess.PIPE, stderr=errors)
            assert process.stdout is not None
            current: str | None = None
            columns: list[str] = []
            for raw in process.stdout:
                line = raw.rstrip(b"\n")
                if current is None:
                    if line.startswith(b"COPY "):
                        match = _COPY.match(line.decode("utf-8", errors="replace"))
                        if match and _unquote(match["schema"] or schema) == schema:
                            current = _unquote(match["table"])
                            tables[current] = 0
                            columns = [_unquote(c.strip()) for c in (match["columns"] or "").split(",")]
                        elif match:
                            current = ""  # another schema's table: read over its rows
                    continue
                if line == b"\\.":
                    current = None
                    continue
                if current:
                    tables[current] += 1
                    if current == "django_migrations" and "app" in columns and "name" in columns:
                        values = line.decode("utf-8", errors="replace").split("\t")
                        migrations.append((values[columns.index("app")], values[columns.index("name")]))
            code = process.wait()
            if code != 0:
                errors.seek(0)
                raise BackupError(f"the database dump does not read ({_first_line(errors.read(), 'pg_restore')})")
        return DatabaseFacts(tables=dict(sorted(tables.items())), migrations=_group_migrations(migrations),
                             pg_schema=schema)

    def _live_tables(self) -> tuple[str, list[str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            schema = cursor.fetchone()[0]
            cursor.execute(_PG_TABLES, [schema])
            return schema, [row[0] for row in cursor.fetchall()]

    def load(self, dump: Path, manifest: Manifest) -> None:
        conninfo, env = self._conninfo_env()
        schema, live_tables = self._live_tables()
        # Tables the archive does not have (from a later migration) go too, so the database is the archive's.
        extra = sorted(set(live_tables) - set(manifest.database.tables))
        prelude = "".join(f"DROP TABLE IF EXISTS {_quote(schema)}.{_quote(t)} CASCADE;\n" for t in extra)
        psql_cmd = [self._tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--file=-",
                    f"--dbname={conninfo}"]
        restore_cmd = [self._tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-acl", "--file=-",
                       str(dump)]
        with tempfile.TemporaryFile() as psql_errors, tempfile.TemporaryFile() as restore_errors:
            psql = subprocess.Popen(psql_cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,  # noqa: S603
                                    stderr=psql_errors, env=env)
            assert psql.stdin is not None
            try:
                try:
                    psql.stdin.write(("SET client_min_messages = warning;\n" + prelude).encode())
                    psql.stdin.flush()
                    restore = subprocess.Popen(restore_cmd, stdout=psql.stdin, stderr=restore_errors,  # noqa: S603
                                               env=env)
                    restored = restore.wait()
                except BrokenPipeError:
                    restored = -1
                if psql.poll() is not None and psql.returncode != 0:
                    psql_errors.seek(0)
                    raise BackupError(f"the database could not be restored ({_first_line(psql_errors.read())}); "
                                      f"nothing was changed")
                if restored != 0:
                    # psql still holds the open transaction and has not seen the end of its input: stopping it
                    # now rolls everything back
                    psql.kill()
                    psql.wait()
                    restore_errors.seek(0)
                    raise BackupError(f"pg_restore failed ({_first_line(restore_errors.read(), 'no message')}); "
                                      f"nothing was changed")
                psql.stdin.close()
                if psql.wait() != 0:
                    psql_errors.seek(0)
                    raise BackupError(f"the database could not be restored ({_first_line(psql_errors.read())}); "
                                      f"nothing was changed")
            finally:
                if psql.poll() is None:
                    psql.kill()
                    psql.wait()
        connection.close()  # the tables were replaced under this process's connection

    def live(self) -> DatabaseFacts:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema(), current_setting('server_version')")
            schema, version = cursor.fetchone()
            return _pg_facts(cursor, schema, version)

    def describe(self) -> str:
        params = self._params()
        where = f" on {params['host']}:{params.get('port', 5432)}" if params.get("host") else ""
        return f"PostgreSQL database {params.get('dbname', '')}{where}"


_PG_TABLES = """
    SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname
"""


def _pg_facts(cursor: Any, schema: str, version: str) -> DatabaseFacts:
    cursor.execute(_PG_TABLES, [schema])
    names = [row[0] for row in cursor.fetchall()]
    tables: dict[str, int] = {}
    for name in names:
        cursor.execute(f"SELECT COUNT(*) FROM {_quote(schema)}.{_quote(name)}")  # noqa: S608 - quoted names
        tables[name] = int(cursor.fetchone()[0])
    rows: list[tuple[str, str]] = []
    if "django_migrations" in tables:
        cursor.execute(f"SELECT app, name FROM {_quote(schema)}.django_migrations")  # noqa: S608
        rows = [(app, name) for app, name in cursor.fetchall()]
    return DatabaseFacts(tables=tables, migrations=_group_migrations(rows), server_version=str(version),
                         pg_schema=schema)


def direct_connection() -> None:
    """A one-shot command needs no connection pool: without it, a server that is down is said at once (the pool
    would retry for its timeout, logging each attempt). Only before the first connection is made."""
    options = connection.settings_dict.get("OPTIONS", {})
    if connection.connection is None and "pool" in options:
        connection.settings_dict["OPTIONS"] = {k: v for k, v in options.items() if k != "pool"}


def engine_for(vendor: str) -> Engine:
    if vendor == "sqlite":
        return SqliteEngine()
    if vendor == "postgresql":
        return PostgresEngine()
    raise BackupError(f"backups of a {vendor} database are not supported (SQLite and PostgreSQL are)")


# --- writing an archive --------------------------------------------------------------------------------------


class _HashingReader:
    """A file read by tarfile, hashed on the way."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o600
    return info


def _archive_destination(output: Path | None, created: datetime) -> Path:
    name = f"kefu-backup-{timezone.localtime(created):%Y%m%d-%H%M%S}.tar.gz"
    if output is None:
        folder = _data_dir() / "backups"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
    elif output.is_dir():
        target = output / name
    elif not output.name.endswith((".tar.gz", ".tgz")):
        raise BackupError(f"{output}: no such folder (name a folder, or a file ending in .tar.gz)")
    else:
        if not output.parent.is_dir():
            raise BackupError(f"{output.parent}: no such folder")
        if output.exists():
            raise BackupError(f"{output} exists already: name another file")
        return output
    counter = 2
    while target.exists():  # two backups in one second
        target = target.with_name(f"{name.removesuffix('.tar.gz')}-{counter}.tar.gz")
        counter += 1
    return target


@_operator_errors
def backup_create(*, output: Path | None = None, keep: int | None = None,
                  now: datetime | None = None) -> BackupResult:
    """Write a backup archive (into KEFU_DATA_DIR/backups/ unless `output` names a folder or a file) → the result.
    `keep`: afterwards, keep only the newest `keep` archives named kefu-backup-*.tar.gz in that folder."""
    engine = engine_for(connection.vendor)
    engine.check_tools(restore=False)
    created = now or timezone.now()
    target = _archive_destination(output, created)
    partial = target.with_name(f"{STAGING_PREFIX}{target.name}.partial")
    try:
        with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=target.parent) as work:
            manifest = _write_archive(engine, Path(work), partial, created)
        os.replace(partial, target)
    except OSError as exc:
        raise BackupError(f"cannot write the backup to {target.parent}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    removed = _prune(target.parent, keep) if keep else []
    size = target.stat().st_size
    with transaction.atomic():
        audit_record(actor=None, action="backup.created", object_type="backup", object_id=target.name,
                     summary=f"{target.name}: {size} bytes",
                     data={"path": str(target), "size": size, "tables": len(manifest.database.tables),
                           "rows": manifest.rows, "files": len(manifest.files),
                           "removed": [p.name for p in removed]})
    return BackupResult(path=target, size=size, manifest=manifest, removed=removed)


def _write_archive(engine: Engine, work: Path, partial: Path, created: datetime) -> Manifest:
    database_member = DATABASE_MEMBERS[engine.vendor]
    dump = work / database_member
    facts = engine.dump(dump)
    media = [(name, path, path.stat().st_size) for name, path in _media_files(_media_root())]
    media_entries = [FileEntry(path=name, size=size, sha256=_sha256_file(path)) for name, path, size in media]
    key = settings.SECRET_KEY.encode()
    manifest = Manifest(
        format=FORMAT, format_version=FORMAT_VERSION, kefu_version=kefu.__version__, created_at=created,
        database=DatabaseEntry(
            vendor=engine.vendor,  # type: ignore[arg-type]
            server_version=facts.server_version,
            dump_tool=_dump_tool_version() if engine.vendor == "postgresql" else "",
            pg_schema=facts.pg_schema,
            file=FileEntry(path=database_member, size=dump.stat().st_size, sha256=_sha256_file(dump)),
            tables=facts.tables, migrations=facts.migrations),
        secret_key=SecretKeyEntry(path=SECRET_KEY_MEMBER, size=len(key), sha256=hashlib.sha256(key).hexdigest(),
                                  source="environment" if os.environ.get("KEFU_SECRET_KEY") else "file"),
        files=media_entries)
    mtime = created.timestamp()
    body = json.dumps(manifest.model_dump(mode="json"), ensure_ascii=False, indent=1).encode()
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds the secret key
    with os.fdopen(descriptor, "wb") as handle:
        with tarfile.open(fileobj=handle, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_member(MANIFEST, len(body), mtime), io.BytesIO(body))
            tar.addfile(_member(SECRET_KEY_MEMBER, len(key), mtime), io.BytesIO(key))
            with dump.open("rb") as source:
                tar.addfile(_member(database_member, manifest.database.file.size, mtime), source)
            for (name, path, size), entry in zip(media, media_entries, strict=True):
                try:
                    with path.open("rb") as source:
                        reader = _HashingReader(source)
                        tar.addfile(_member(name, size, path.stat().st_mtime), reader)
                        unchanged = reader.digest.hexdigest() == entry.sha256
                except OSError:  # gone, or shorter than when it was listed
                    unchanged = False
                if not unchanged:
                    raise BackupError(f"{path} changed while it was being backed up: run the backup again")
        handle.flush()
        os.fsync(handle.fileno())
    return manifest


def _dump_tool_version() -> str:
    path = shutil.which("pg_dump")
    if not path:
        return ""
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.strip()


def _prune(folder: Path, keep: int) -> list[Path]:
    archives = sorted(folder.glob(ARCHIVE_PATTERN))  # the names carry the time they were made
    removed = archives[:-keep] if keep > 0 else []
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


# --- reading an archive --------------------------------------------------------------------------------------


@dataclass
class _Read:
    manifest: Manifest
    problems: list[str]
    database: Path | None = None
    secret_key: str | None = None


def _check_path(path: Path) -> None:
    if not path.exists():
        raise BackupError(f"{path}: no such file")
    if path.is_dir():
        raise BackupError(f"{path} is a folder, not a backup archive")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _copy_hashed(source: IO[bytes], target: IO[bytes] | None) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if target is not None:
            target.write(chunk)
    return size, digest.hexdigest()


def _read_manifest(tar: tarfile.TarFile, path: Path) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > MANIFEST_MAX_BYTES:
        raise BackupError(f"{path.name} is not a Kefu backup archive (no manifest at its start)")
    handle = tar.extractfile(first)
    assert handle is not None
    data = handle.read()
    try:
        raw = json.loads(data)
    except ValueError:
        raise BackupError(f"{path.name}: its manifest is not readable JSON") from None
    if isinstance(raw, dict) and isinstance(raw.get("format_version"), int) and raw.get("format") == FORMAT \
            and raw["format_version"] > FORMAT_VERSION:
        raise BackupError(f"{path.name} was written by a newer Kefu (backup format {raw['format_version']}, this "
                          f"Kefu reads {FORMAT_VERSION}): upgrade Kefu first")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "manifest"
        raise BackupError(f"{path.name} is not a Kefu backup archive (its manifest has no valid {where})") from None


def _read_archive(path: Path, *, work: Path, media_dest: Path | None,
                  before_content: Callable[[Manifest], None] | None = None) -> _Read:
    """Read the archive once from start to end: the manifest first (then `before_content` may refuse it), the
    database copy into `work`, the files into `media_dest` (or only hashed), comparing each with the manifest;
    the gzip stream to its end, so that a cut or changed byte anywhere is noticed (its CRC and length)."""
    _check_path(path)
    manifest: Manifest | None = None
    try:
        with gzip.open(path, "rb") as compressed, tarfile.open(fileobj=compressed, mode="r|") as tar:
            manifest = _read_manifest(tar, path)
            if before_content is not None:
                before_content(manifest)
            read = _Read(manifest=manifest, problems=[])
            _read_members(tar, read, work=work, media_dest=media_dest)
            while compressed.read(CHUNK):
                pass
        return read
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, FileExistsError | PermissionError) or getattr(exc, "errno", None) == errno.ENOSPC:
            raise BackupError(f"cannot unpack {path.name}: {_reason(exc)}") from None
        if manifest is None:
            raise BackupError(f"{path.name} is not a Kefu backup archive ({_reason(exc)})") from None
        raise BackupError(f"{path.name} is damaged or incomplete ({_reason(exc)})") from None


def _read_members(tar: tarfile.TarFile, read: _Read, *, work: Path, media_dest: Path | None) -> None:
    manifest = read.manifest
    database_member = DATABASE_MEMBERS[manifest.database.vendor]
    expected: dict[str, FileEntry] = {entry.path: entry for entry in manifest.files}
    expected[database_member] = manifest.database.file
    expected[SECRET_KEY_MEMBER] = manifest.secret_key
    seen: set[str] = set()
    while (member := tar.next()) is not None:
        name = member.name
        if name in seen:
            read.problems.append(f"{name}: twice in the archive")
            continue
        seen.add(name)
        entry = expected.get(name)
        if entry is None or not member.isfile():
            read.problems.append(f"{name}: not in the manifest")
            continue
        source = tar.extractfile(member)
        assert source is not None
        if name == SECRET_KEY_MEMBER:
            data = source.read(SECRET_KEY_MAX_BYTES + 1)
            size, digest = len(data), hashlib.sha256(data).hexdigest()
            read.secret_key = data.decode("utf-8", errors="replace")
        elif name == database_member:
            read.database = work / database_member
            with read.database.open("xb") as target:
                size, digest = _copy_hashed(source, target)
        else:
            relative = _safe_media_path(name)
            if relative is None:
                read.problems.append(f"{name}: a path outside the uploaded files")
                continue
            if media_dest is None:
                size, digest = _copy_hashed(source, None)
            else:
                destination = media_dest.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with destination.open("xb") as target:
                    size, digest = _copy_hashed(source, target)
        if size != entry.size or digest != entry.sha256:
            read.problems.append(f"{name}: its content differs from the manifest (size or SHA-256)")
    read.problems += [f"{name}: missing from the archive" for name in expected if name not in seen]


def _compare_database(manifest: Manifest, facts: DatabaseFacts, *, what: str) -> list[str]:
    problems = []
    for table, rows in manifest.database.tables.items():
        found = facts.tables.get(table)
        if found is None:
            problems.append(f"table {table}: missing from {what}")
        elif found != rows:
            problems.append(f"table {table}: {found} rows in {what}, the manifest says {rows}")
    problems += [f"table {table}: in {what} but not in the manifest"
                 for table in facts.tables if table not in manifest.database.tables]
    if facts.migrations != manifest.database.migrations:
        problems.append(f"the migrations recorded in {what} differ from the manifest")
    return problems


def _failed(path: Path, problems: list[str]) -> BackupError:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return BackupError(f"{path.name} fails verification: {problems[0]}{more}", problems)


def _check_database(read: _Read) -> list[str]:
    if read.database is None:
        return []  # already reported as missing
    try:
        facts = engine_for(read.manifest.database.vendor).inspect(read.database, read.manifest)
    except BackupError as exc:
        return [str(exc)]
    return _compare_database(read.manifest, facts, what="the database copy")


@_operator_errors
def backup_verify(path: Path) -> Manifest:
    """Check an archive against its manifest (every checksum; the database copy opens and holds the rows and
    migrations the manifest lists) without touching the live system → the manifest, or BackupError."""
    with tempfile.TemporaryDirectory(prefix="kefu-verify-") as work:
        read = _read_archive(path, work=Path(work), media_dest=None)
        problems = read.problems + _check_database(read)
    if problems:
        raise _failed(path, problems)
    return read.manifest


# --- restoring -----------------------------------------------------------------------------------------------


def check_restorable(manifest: Manifest) -> None:
    """Refuse an archive of another database kind or of a newer Kefu (migrations this code does not know)."""
    vendor = connection.vendor
    if manifest.database.vendor != vendor:
        raise BackupError(
            f"this archive holds a {VENDOR_NAMES[manifest.database.vendor]} database and this Kefu runs on "
            f"{VENDOR_NAMES.get(vendor, vendor)}: restore it into a Kefu on "
            f"{VENDOR_NAMES[manifest.database.vendor]}; nothing was changed")
    known = _migrations_on_disk()
    unknown = sorted(f"{app}.{name}" for app, names in manifest.database.migrations.items() for name in names
                     if (app, name) not in known)
    if unknown:
        shown = ", ".join(unknown[:3]) + (", …" if len(unknown) > 3 else "")
        raise BackupError(
            f"this archive comes from a newer Kefu ({manifest.kefu_version}): its database has {len(unknown)} "
            f"migration(s) this Kefu does not know ({shown}); upgrade Kefu first, then restore; nothing was changed")


def _swap_media(media_root: Path, staged: Path) -> None:
    """Replace MEDIA_ROOT's content by the staged files: renames inside MEDIA_ROOT (one file system, even when
    MEDIA_ROOT is a mount point)."""
    replaced = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}replaced-", dir=media_root))
    for entry in sorted(media_root.iterdir()):
        if not entry.name.startswith(STAGING_PREFIX):
            os.rename(entry, replaced / entry.name)
    for entry in sorted(staged.iterdir()):
        os.rename(entry, media_root / entry.name)
    shutil.rmtree(replaced, ignore_errors=True)


def _restore_secret_key(key: str) -> list[str]:
    target = _secret_key_file()
    temporary = target.with_name(f"{STAGING_PREFIX}secret_key")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    os.replace(temporary, target)
    configured = os.environ.get("KEFU_SECRET_KEY", "")
    if configured and configured != key:
        return [f"KEFU_SECRET_KEY is set and differs from the backup's key, now in {target}: set KEFU_SECRET_KEY "
                f"to that key, or signed values of the backup (sessions, password links) will not be accepted"]
    return []


def _forget_caches() -> None:
    """Cached reads and queued background tasks belong to the replaced data."""
    from django.core.cache import cache
    from huey.contrib.djhuey import HUEY

    cache.clear()
    HUEY.flush()


def _verify_live(engine: Engine, manifest: Manifest) -> list[str]:
    problems = _compare_database(manifest, engine.live(), what="the restored database")
    expected = {entry.path: entry for entry in manifest.files}
    found = dict(_media_files(_media_root()))
    for name, entry in expected.items():
        path = found.get(name)
        if path is None:
            problems.append(f"{name}: missing after the restore")
        elif path.stat().st_size != entry.size or _sha256_file(path) != entry.sha256:
            problems.append(f"{name}: differs after the restore")
    problems += [f"{name}: present after the restore but not in the archive" for name in found if name not in expected]
    if hashlib.sha256(_secret_key_file().read_bytes()).hexdigest() != manifest.secret_key.sha256:
        problems.append("the secret key differs after the restore")
    return problems


@_operator_errors
def backup_restore(path: Path, *, confirm: Callable[[Manifest, str], bool]) -> RestoreResult:
    """Replace this installation's database, uploaded files and secret key by the archive's, after checking the
    whole archive; `confirm(manifest, target)` is asked once the archive is known to be sound. Verifies the
    restored installation against the manifest afterwards."""
    engine = engine_for(connection.vendor)
    engine.check_tools(restore=True)
    _check_path(path)
    media_root = _media_root()
    try:
        media_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}restore-", dir=_data_dir()))
        staged = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}restore-", dir=media_root))
    except OSError as exc:
        raise BackupError(f"cannot prepare the restore: {_reason(exc)}") from None
    try:
        read = _read_archive(path, work=work, media_dest=staged, before_content=check_restorable)
        problems = read.problems + _check_database(read)
        if problems:
            raise _failed(path, problems)
        assert read.database is not None
        assert read.secret_key is not None
        manifest = read.manifest
        if not confirm(manifest, engine.describe()):
            raise BackupError("restore cancelled; nothing was changed")
        engine.load(read.database, manifest)
        _swap_media(media_root, staged)
        notices = _restore_secret_key(read.secret_key)
        _forget_caches()
        problems = _verify_live(engine, manifest)
        if problems:
            raise BackupError(f"restored, but the check afterwards found: {problems[0]}", problems)
        known = _migrations_on_disk()
        archived = {(app, name) for app, names in manifest.database.migrations.items() for name in names}
        with transaction.atomic():
            audit_record(actor=None, action="backup.restored", object_type="backup", object_id=path.name,
                         summary=f"{path.name} ({manifest.created_at:%Y-%m-%d %H:%M})",
                         data={"created_at": manifest.created_at.isoformat(), "kefu_version": manifest.kefu_version,
                               "rows": manifest.rows, "files": len(manifest.files)})
        return RestoreResult(manifest=manifest, pending_migrations=len(known - archived), notices=notices)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staged, ignore_errors=True)

