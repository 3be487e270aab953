"""Settings for every environment, read from KEFU_* environment variables with safe defaults."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # kefu/
PROJECT_DIR = PACKAGE_DIR.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(os.environ.get("KEFU_DATA_DIR", PROJECT_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("KEFU_DEBUG", False)
SECRET_KEY = os.environ.get("KEFU_SECRET_KEY", "")
if not SECRET_KEY:
    # A per-installation key kept beside the data, so sessions survive restarts without configuration.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        from django.core.management.utils import get_random_secret_key

        key_file.write_text(get_random_secret_key())
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("KEFU_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
                 if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("KEFU_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "huey.contrib.djhuey",
    "ninja",  # serves the API docs (Swagger UI) from its own static files: no CDN, works offline
    "kefu.core",
    "kefu.clocks",
    "kefu.accounts",
    "kefu.customers",
    "kefu.tickets",
    "kefu.integrations",
    "kefu.notifications",
    "kefu.administration",
    "kefu.operations",
    "kefu.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # LocaleMiddleware's place, after auth: the user's stored language applies, Accept-Language does not
    "kefu.web.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: a sync-only middleware innermost keeps the whole chain synchronous under ASGI (one switch into a
    # thread per request, instead of one per middleware method: about 1.5 ms of CPU per request less)
    "kefu.administration.middleware.PasswordChangeRequiredMiddleware",
]

ROOT_URLCONF = "kefu.config.urls"
ASGI_APPLICATION = "kefu.config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "kefu.web.context.navigation",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("KEFU_DATABASE_URL") or f"sqlite:///{DATA_DIR / 'kefu.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers work while one writer commits; IMMEDIATE takes the write lock up front so
        # concurrent writers queue (busy timeout) instead of failing with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("KEFU_DB_POOL", True):
    # A connection pool per server process (psycopg_pool): a request borrows a connection instead of opening one
    # (about 3 ms saved per request on loopback, more across a network). KEFU_DB_POOL_SIZE bounds it.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("KEFU_DB_POOL_SIZE", "10")),
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["kefu.accounts.backends.AccountBackend"]  # Django's model backend, prepared reads
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = os.environ.get("KEFU_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("KEFU_STATIC_ROOT", DATA_DIR / "static"))
NODE_MODULES = PROJECT_DIR / "node_modules"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
# Front-end packages come from npm (package.json); only their distributable files are served.
for prefix, folder in (
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/alpinejs", NODE_MODULES / "alpinejs" / "dist"),
    ("vendor/echarts", NODE_MODULES / "echarts" / "dist"),
):
    if folder.is_dir():
        STATICFILES_DIRS.append((prefix, folder))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(os.environ.get("KEFU_MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "/media/"

REDIS_URL = os.environ.get("KEFU_REDIS_URL", "")
# The Redis pub/sub channel live pushes travel on from the worker to every server (channels ignore the database
# number: two installations on one Redis need different names).
KEFU_LIVE_CHANNEL = os.environ.get("KEFU_LIVE_CHANNEL", "kefu:live")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "kefu",
        "url": REDIS_URL,
        "immediate": False,
        "consumer": {"workers": 2, "worker_type": "thread", "periodic": True},
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "kefu",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": False,
        "consumer": {"workers": 2, "worker_type": "thread", "periodic": True},
    }

# Content-Security-Policy: scripts only from Kefu's own origin (an injected <script> never runs). 'unsafe-eval' is
# what Alpine's x-data and htmx's hx-on attributes need; inline styles are used by the templates and charts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, UNSAFE_EVAL],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SESSION_ENGINE = "kefu.core.sessions"  # Django's database sessions, read with a prepared query
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Attachments on work orders: size and type limits.
KEFU_ATTACHMENT_MAX_BYTES = int(os.environ.get("KEFU_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
KEFU_ATTACHMENT_TYPES = {
    ".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".txt": "text/plain", ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".mp3": "audio/mpeg", ".wav": "audio/wav", ".zip": "application/zip",
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

KEFU_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("KEFU_WEBHOOK_TIMEOUT_SECONDS", 10))
KEFU_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("KEFU_WEBHOOK_MAX_ATTEMPTS", 8))
# /readyz counts the worker as gone when its heartbeat (every minute) is older than this; 0 leaves the worker out
KEFU_HEARTBEAT_MAX_AGE = int(os.environ.get("KEFU_HEARTBEAT_MAX_AGE", "180"))
KEFU_SLA_WARNING_FRACTION = 0.8  # default when a policy does not say: warn at 80 % of the target elapsed

# Notifications outside the app (docs/notifications.md). Each channel is off until configured.
KEFU_BASE_URL = os.environ.get("KEFU_BASE_URL", "http://127.0.0.1:8000")  # links in e-mails, SMS, robot posts
KEFU_SMTP_HOST = os.environ.get("KEFU_SMTP_HOST", "")
KEFU_SMTP_PORT = int(os.environ.get("KEFU_SMTP_PORT", "25"))
KEFU_SMTP_USER = os.environ.get("KEFU_SMTP_USER", "")
KEFU_SMTP_PASSWORD = os.environ.get("KEFU_SMTP_PASSWORD", "")
KEFU_SMTP_TLS = env_bool("KEFU_SMTP_TLS", False)  # STARTTLS (port 587)
KEFU_SMTP_SSL = env_bool("KEFU_SMTP_SSL", False)  # implicit TLS (port 465)
KEFU_SMTP_TIMEOUT = float(os.environ.get("KEFU_SMTP_TIMEOUT", "15"))
KEFU_MAIL_FROM = os.environ.get("KEFU_MAIL_FROM", "Kefu <kefu@localhost>")
KEFU_SMS_BACKEND = os.environ.get("KEFU_SMS_BACKEND", "")  # "console", or a gateway backend's dotted path
KEFU_WECOM_TRANSPORT = os.environ.get("KEFU_WECOM_TRANSPORT", "")  # tests only: a class instead of HTTP

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("KEFU_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

PASSWORD_RESET_TIMEOUT = 24 * 3600  # a one-time password link from an administrator works for a day
