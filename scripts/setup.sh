#!/usr/bin/env bash
# Set up everything Kefu needs on a fresh Debian/Ubuntu machine with Python 3.11 and Node:
# a virtual environment with Kefu and its dependencies, the pinned front-end packages, compiled translations.
# Usage: scripts/setup.sh [--dev]   (--dev adds the test tools, Chromium and CJK fonts for browser tests,
#                                    and the OpenLDAP and dovecot servers the tests start on loopback ports)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

python=${KEFU_PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "Kefu needs Python 3.11 ($python is $("$python" --version 2>&1))." >&2
  exit 1
fi

# Installs Debian packages that are missing (as root, or through sudo); on failure prints why they matter.
apt_install() {  # apt_install "what fails without them" package…
  local why=$1; shift
  local sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >/dev/null || true
  # noninteractive: slapd's package configures a default directory without questions; its service is not used
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
    || echo "Could not install $*: $why" >&2
}

# python-ldap (LDAP / Active Directory sign-in) is built from source against OpenLDAP's and SASL's headers.
apt_need=()
[ -f /usr/include/ldap.h ] || apt_need+=(libldap2-dev)
[ -f /usr/include/sasl/sasl.h ] || apt_need+=(libsasl2-dev)
command -v gcc >/dev/null 2>&1 || apt_need+=(gcc)
# The LDAP tests start their own OpenLDAP server (slapd) on a loopback port: never the system's service.
if [ "$dev" = 1 ]; then
  [ -x /usr/sbin/slapd ] || apt_need+=(slapd)
  command -v ldapadd >/dev/null 2>&1 || apt_need+=(ldap-utils)
fi
if [ "${#apt_need[@]}" -gt 0 ]; then
  apt_install "python-ldap may not build; LDAP tests will be skipped." "${apt_need[@]}"
fi
# The e-mail tests start their own IMAP server (dovecot) on a loopback port: never the system's service, which the
# package starts on ports 143/993 and which is stopped and disabled again when this script installed it.
if [ "$dev" = 1 ] && [ ! -x /usr/sbin/dovecot ]; then
  apt_install "the e-mail channel's IMAP tests will be skipped." dovecot-imapd
  if [ -x /usr/sbin/dovecot ]; then
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    { $sudo_cmd systemctl disable --now dovecot || $sudo_cmd service dovecot stop; } >/dev/null 2>&1 || true
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q -U pip wheel setuptools
if [ "$dev" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi

if [ -f package-lock.json ]; then
  npm ci --silent --no-audit --no-fund
else
  npm install --silent --no-audit --no-fund
fi

.venv/bin/kefu compilemessages --ignore ".venv/*" --ignore "node_modules/*" >/dev/null

# On PostgreSQL, `kefu backup` and `kefu restore` run pg_dump, pg_restore and psql: Debian's client tools, installed
# only when missing (a server older than the tools is fine; an older pg_dump than the server is refused by kefu backup).
case "${KEFU_DATABASE_URL:-}" in
  postgres*)
    if ! command -v pg_dump >/dev/null 2>&1 || ! command -v pg_restore >/dev/null 2>&1 \
        || ! command -v psql >/dev/null 2>&1; then
      apt_install "kefu backup and kefu restore need it on PostgreSQL." postgresql-client
    fi
    ;;
esac

if [ "$dev" = 1 ]; then
  # Browser tests drive Debian's Chromium; screenshots need a CJK font.
  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
  if [ "${#need[@]}" -gt 0 ]; then
    apt_install "browser tests will be skipped." "${need[@]}"
  fi
fi
