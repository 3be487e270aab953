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
    "django_otp",  # two-factor sign-in (kefu.identity): devices, verification, throttling
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "kefu.core",
    "kefu.clocks",
    "kefu.accounts",
    "kefu.customers",
    "kefu.tickets",
    "kefu.integrations",
    "kefu.notifications",
    "kefu.conversations",  # chat, e-mail, WeChat, app webhooks, SMS (not `channels`: that is Django Channels)
    "kefu.routing",  # queues (later: skills, agent states, offers and claims)
    "kefu.knowledge",  # articles, the portal's FAQ, the answer bot
    "kefu.telephony",  # calls as the PBX reports them (CTI events)
    "kefu.widget",  # the customer's side of web and app chat (web layer)
    "kefu.portal",  # the public self-service portal under /help/ (web layer)
    "kefu.privacy",
    "kefu.administration",
    "kefu.identity",  # after django_otp: it takes django-otp's device pages out of django-admin
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
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the second factor of this session
    # LocaleMiddleware's place, after auth: the user's stored language applies, Accept-Language does not
    "kefu.web.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A half-signed-in session (password given, second step not yet) reaches the second step and nothing else.
    "kefu.identity.middleware.SecondFactorMiddleware",
    # Last: a sync-only middleware innermost keeps the whole chain synchronous under ASGI (one switch into a
    # thread per request, instead of one per middleware method: about 1.5 ms of CPU per request less)
    "kefu.accounts.middleware.SessionLimitsMiddleware",  # sync-only too: idle and absolute session limits
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
# Single sign-on (docs/security.md): OpenID Connect when KEFU_OIDC_CLIENT_ID is set, LDAP / Active Directory when
# KEFU_LDAP_SERVER_URI is set; the group → role / team / department mapping for both.
from kefu.identity import configuration as _identity  # noqa: E402  (plain functions of the environment)

_OIDC, _LDAP = _identity.oidc_settings(os.environ), _identity.ldap_settings(os.environ)
globals().update({**_identity.mapping_settings(os.environ), **_OIDC, **_LDAP})
# The password gate (accounts whose local password is off), Django's model backend with prepared reads, then the
# directory and the OIDC provider when configured.
AUTHENTICATION_BACKENDS = _identity.authentication_backends(oidc=_OIDC["KEFU_OIDC_ENABLED"],
                                                            ldap=_LDAP["KEFU_LDAP_ENABLED"])
# Two-factor sign-in (kefu.identity): the name authenticator apps show, and django-otp's throttle (after n wrong
# codes the next is refused for 2^(n-1) seconds).
OTP_TOTP_ISSUER = os.environ.get("KEFU_TOTP_ISSUER", "Kefu")
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
# Passwords (docs/security.md "Passwords"): at least 12 characters (a phrase of several words is welcome), not like
# the account's own names, not on Django's list of 20,000 common passwords nor on zxcvbn's 30,000 most used in leaks,
# and not guessable in under ~10^8 tries by zxcvbn's estimate (keyboard rows, repeats, dates, words with digits).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": int(os.environ.get("KEFU_PASSWORD_MIN_LENGTH", "12"))}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "kefu.accounts.passwords.GuessablePasswordValidator"},
]

# Sign-in protection (docs/security.md "Sign-in protection"). Failed sign-ins are counted per account and per client
# address; reaching a limit locks that account (or address) for KEFU_SIGNIN_LOCK_MINUTES. The check runs before the
# password is hashed. Guessed API tokens are counted per address the same way (429 with Retry-After).
KEFU_SIGNIN_LOCK_MINUTES = int(os.environ.get("KEFU_SIGNIN_LOCK_MINUTES", "15"))
# Reverse proxies of one's own in front of Kefu: the client's address is the N-th from the right of
# X-Forwarded-For (0: the peer address). Behind one nginx: 1. Wrong here, every client shares the proxy's address.
KEFU_TRUSTED_PROXY_HOPS = int(os.environ.get("KEFU_TRUSTED_PROXY_HOPS", "0"))
# Named rate limits ("count/period": s, m, h, d), each overridable by KEFU_RATE_LIMIT_<NAME> (dots and dashes as _),
# e.g. KEFU_RATE_LIMIT_SIGNIN_ACCOUNT=5/15m. Counted in Redis when KEFU_REDIS_URL is set, else in the database.
KEFU_RATE_LIMITS = {
    "signin.account": "10/15m",  # failed sign-ins of one account (any address) before it is locked
    "signin.address": "50/15m",  # failed sign-ins from one address (any account) before it is locked
    "api.token_failure": "20/10m",  # unknown or revoked API tokens from one address before 429s
    # public endpoints, keyed by the client's address (kefu.core.ratelimit.rate_limited)
    "public.widget": "60/1m",  # the chat widget's messages
    "public.webhook": "600/1m",  # inbound webhooks of the channels
    "public.faq": "120/1m",  # the FAQ portal's pages and searches
    "portal.feedback": "10/10m",  # the portal's "was this helpful?" answers
    "portal.web_order": "10/1h",  # the portal's web form (work orders opened)
    "portal.lookup_address": "10/15m",  # order-status lookups from one address
    "portal.lookup_order": "5/15m",  # order-status lookups of one order number, from anywhere
}
# The chat channel whose widget the portal embeds (a channel code; empty: the first active chat channel).
KEFU_PORTAL_CHAT = os.environ.get("KEFU_PORTAL_CHAT", "")
KEFU_RATE_LIMIT_PREFIX = os.environ.get("KEFU_RATE_LIMIT_PREFIX", "kefu:rl:")

# Sessions (docs/security.md "Sessions and tokens"): signed out after KEFU_SESSION_IDLE_MINUTES without a request
# (background refreshes of a page do not count) and KEFU_SESSION_MAX_HOURS after signing in, whatever happens.
KEFU_SESSION_IDLE_MINUTES = int(os.environ.get("KEFU_SESSION_IDLE_MINUTES", "30"))
KEFU_SESSION_MAX_HOURS = float(os.environ.get("KEFU_SESSION_MAX_HOURS", "12"))
SESSION_COOKIE_AGE = KEFU_SESSION_IDLE_MINUTES * 60  # the database row expires this long after its last save
# Requests that a page makes by itself (the header's counters every 2 minutes): they do not keep a session alive.
KEFU_SESSION_BACKGROUND_PATHS = ("/counters/",)
# API tokens: the expiry offered by default, and the longest allowed (no token lives for ever).
KEFU_API_TOKEN_DEFAULT_DAYS = int(os.environ.get("KEFU_API_TOKEN_DEFAULT_DAYS", "90"))
KEFU_API_TOKEN_MAX_DAYS = int(os.environ.get("KEFU_API_TOKEN_MAX_DAYS", "365"))

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
    # The channel layer (typing and presence of live chats) waits for messages in a 5 s blocking pop; redis-py 8
    # gives up reading after 5 s by default, which would end every idle chat socket every 5 s. No read timeout here
    # (redis-py 7's default; with a longer one, the pop of a closed socket is not cancelled and its task lingers).
    # redis-py 8's asyncio pool also fails at once beyond 100 connections (it was unbounded): a burst of typing
    # signals from a few hundred chat sockets in one process needs more.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                    "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 1000}]}}
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
        # call recordings are played by the browser straight from the PBX's address (Kefu never fetches them)
        "media-src": [SELF, "https:", "http:"],
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
LANGUAGE_COOKIE_SAMESITE = "Lax"  # production.py adds Secure, as for the session and CSRF cookies
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
KEFU_SLA_WARNING_FRACTION = 0.8
# First-response targets of new conversations by channel kind (seconds of the channel's business calendar); a
# channel's own target overrides them.
KEFU_FIRST_RESPONSE_SECONDS = {
    "chat": 30, "webhook": 30, "wechat_oa": 60, "wecom_kf": 60, "sms": 3600, "email": 4 * 3600, "default": 60,
}  # default when a policy does not say: warn at 80 % of the target elapsed

# After-contact work (话后处理) ends by itself after this many seconds; the agent is available again.
KEFU_AFTER_CONTACT_SECONDS = int(os.environ.get("KEFU_AFTER_CONTACT_SECONDS", "30"))

# The PBX (ami://… or esl://…, docs/telephony.md): `kefu pbx listen` reads its calls; click-to-dial and transfer
# go to it. Unset: no phone buttons are shown.
KEFU_PBX_URL = os.environ.get("KEFU_PBX_URL", "")

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
