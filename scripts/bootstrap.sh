#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian/Ubuntu machine: the system packages
# (mysqlclient's headers, Chromium and Node.js for the browser tests, docker-compose to validate
# the compose file, nginx for the tests of the production front) when missing, then .venv with
# the Python requirements and node_modules with the browser tests' npm packages (axe-core). Safe
# to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
dpkg -s default-libmysqlclient-dev >/dev/null 2>&1 || need+=(default-libmysqlclient-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v gcc >/dev/null 2>&1 || need+=(build-essential)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
# nginx: the tests and the bench run the production front (deploy/nginx) on ports of their own.
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
# Fonts for names in any script on screenshots and in the browser tests (Latin, Arabic, Devanagari, CJK).
dpkg -s fonts-noto-core >/dev/null 2>&1 || need+=(fonts-noto-core)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
# gettext: makemessages/compilemessages when strings change (the compiled .mo files are committed).
command -v msgfmt >/dev/null 2>&1 || need+=(gettext)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# npm installs axe-core, which the browser tests inject into every page (package.json).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Another apt (a new machine's automatic updates, say) may hold apt's locks for a while: wait
  # for it, up to 10 minutes, rather than fail. `update` has no lock timeout of its own.
  for try in $(seq 120); do
    if errors=$($sudo apt-get update -qq 2>&1 >/dev/null); then break; fi
    case "$errors" in
      *"Could not get lock"*) ;;
      *) echo "$errors" >&2; exit 1 ;;
    esac
    [ "$try" -lt 120 ] || { echo "$errors" >&2; exit 1; }
    [ "$try" -gt 1 ] || echo "Waiting for another apt to finish..."
    sleep 5
  done
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${need[@]}"
  # Where systemd runs, installing nginx starts its default site on port 80: this machine only
  # needs the program, so stop that server again.
  if [[ " ${need[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null 2>&1 \
    && systemctl is-active --quiet nginx 2>/dev/null; then
    $sudo systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements-$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
  rm -f .venv/.requirements-* && touch "$stamp"
fi

# The lock file pins every npm package; install again only when it changes.
stamp=node_modules/.lock-$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
