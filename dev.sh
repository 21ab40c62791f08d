#!/usr/bin/env bash
# OneMap developer entry point. From a clean clone on Debian:
#   ./dev.sh run    set everything up, load the demo district, serve http://127.0.0.1:5006
#   ./dev.sh test   set everything up and run the whole test suite (fails on any skip)
#   ./dev.sh setup  only set up (system packages, .venv, database)
# Environment: DATABASE_URL to use an existing PostGIS server instead of the
# project-managed cluster in .onemap/; ONEMAP_PORT to serve on another port.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
say() { printf '\033[1m[onemap]\033[0m %s\n' "$*"; }

missing_debs() {
  local want_test=$1 pkgs=()
  command -v python3 >/dev/null || pkgs+=(python3)
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || pkgs+=(python3)
  python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
  if [ -z "${DATABASE_URL:-}${ONEMAP_DATABASE_URL:-}" ]; then
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs+=(postgresql postgresql-contrib)
    ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || pkgs+=(postgresql-postgis)
    # road-network travel times and isochrones (migration 0014 creates the extension)
    ls /usr/share/postgresql/*/extension/pgrouting.control >/dev/null 2>&1 || pkgs+=(postgresql-pgrouting)
  fi
  # CJK glyphs for the demo district's Chinese names in the browser
  ls /usr/share/fonts/truetype/wqy/wqy-zenhei.tt* >/dev/null 2>&1 || pkgs+=(fonts-wqy-zenhei)
  # npm installs the browser libraries the server serves itself (web/package.json: hls.js)
  command -v npm >/dev/null || pkgs+=(npm)
  if [ "$want_test" = 1 ]; then
    [ -x /usr/bin/chromium ] || pkgs+=(chromium)
    command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || pkgs+=(mosquitto)
    # the video tests generate a live HLS stream on loopback
    [ -x /usr/bin/ffmpeg ] || pkgs+=(ffmpeg)
    # the single sign-on tests run a real OpenID Connect provider (npm oidc-provider) on loopback
    command -v node >/dev/null || pkgs+=(nodejs)
    command -v npm >/dev/null || pkgs+=(npm)
  fi
  echo "${pkgs[@]:-}"
}

install_debs() {
  local pkgs
  pkgs=$(missing_debs "$1")
  [ -z "$pkgs" ] && return 0
  local cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs"
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: $pkgs"
    bash -c "$cmd"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    say "installing Debian packages with sudo: $pkgs"
    sudo bash -c "$cmd"
  else
    say "missing Debian packages. Run this as root, then run me again:"
    echo "  sudo bash -c '$cmd'"
    exit 1
  fi
  # Debian's postgresql package starts its own cluster on 5432; ours is separate.
}

setup_venv() {
  local stamp="$VENV/.onemap-installed"
  local want
  want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing Python dependencies into .venv"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev]"
    echo "$want" > "$stamp"
  fi
}

setup_web() {
  # hls.js (pinned in web/package-lock.json) into web/node_modules, served at /vendor/hls.min.js: no CDN
  if [ ! -f web/node_modules/hls.js/dist/hls.min.js ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    say "installing browser libraries (npm ci --prefix web)"
    npm ci --prefix web --no-audit --no-fund --loglevel=error
  fi
}

setup_node() {
  # npm packages of the tests (tests/oidc: the OpenID Connect provider), from the lockfile, never global
  local dir="$ROOT/tests/oidc" stamp="$ROOT/tests/oidc/node_modules/.onemap-installed" want
  want=$(sha256sum "$dir/package-lock.json" | cut -c1-16)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing the test OpenID Connect provider (npm ci in tests/oidc)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-run}
shift || true
case "$cmd" in
  setup)
    install_debs 1; setup_venv; setup_web; setup_node; "$VENV/bin/onemap" db up ;;
  run)
    install_debs 0; setup_venv; setup_web
    "$VENV/bin/onemap" db up
    if [ "${ONEMAP_RELOAD_DEMO:-0}" = 1 ] || [ "$("$VENV/bin/python" -m data.load --is-loaded)" != yes ]; then
      "$VENV/bin/onemap" load-demo
    else
      say "demo district already loaded (ONEMAP_RELOAD_DEMO=1 to reload)"
      "$VENV/bin/python" -m data.accounts --if-none  # people sign in: demo accounts unless accounts exist
    fi
    # demo mode: on-duty workers keep moving so the dispatcher always has fresh positions
    export ONEMAP_DEMO_SIMULATE_SECONDS=${ONEMAP_DEMO_SIMULATE_SECONDS:-20}
    exec "$VENV/bin/onemap" serve "$@" ;;
  test)
    install_debs 1; setup_venv; setup_web; setup_node
    "$VENV/bin/onemap" db up --no-migrate
    exec "$VENV/bin/python" -m pytest "$@" ;;
  *)
    echo "usage: ./dev.sh run|test|setup [args]" >&2; exit 2 ;;
esac
