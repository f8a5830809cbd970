#!/usr/bin/env bash
# Installs the S3-compatible test server that hot-swap/tests/*.rs run
# (`moto_server`, from PyPI's `moto[server]`, pinned below) in a virtualenv
# under the workspace target dir: $CARGO_TARGET_DIR/moto/venv, or
# <workspace>/target/moto/venv. Prints where the server is:
#
#   moto_server=<target>/moto/venv/bin/moto_server
#
# Idempotent and fast when it is there (one stamp file, no network).
# Exits non-zero, with the reason on stderr, when it cannot be had.
set -euo pipefail

MOTO_VERSION=5.2.5

die() {
    echo "install-moto.sh: $*" >&2
    exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
workspace=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$workspace/target}
case $target in
/*) ;;
*) target=$PWD/$target ;;
esac
dir=$target/moto
venv=$dir/venv
server=$venv/bin/moto_server
stamp=$venv/.tollgate-moto-$MOTO_VERSION
mkdir -p "$dir" || die "cannot create $dir"

if [ ! -e "$stamp" ] || [ ! -x "$server" ]; then
    python=$(command -v python3 || true)
    [ -n "$python" ] || die "python3 is needed to install moto from PyPI and is not on PATH"
    if [ ! -x "$venv/bin/python" ]; then
        rm -rf "$venv"
        if ! "$python" -m venv "$venv" >"$dir/venv.log" 2>&1; then
            # Debian's python3 needs python3-venv for `-m venv`.
            if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
                echo "install-moto.sh: installing python3-venv with apt-get" >&2
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
    echo "install-moto.sh: installing moto[server]==$MOTO_VERSION into $venv" >&2
    "$venv/bin/python" -m pip install --no-input -q --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" >"$dir/pip.log" 2>&1 || {
        tail -n 20 "$dir/pip.log" >&2 || true
        die "pip install moto[server]==$MOTO_VERSION failed (log: $dir/pip.log)"
    }
    [ -x "$server" ] || die "moto[server] installed but $server is missing"
    "$server" --help >/dev/null 2>"$dir/moto-help.log" ||
        die "$server does not run on this machine (log: $dir/moto-help.log)"
    touch "$stamp"
fi

echo "moto_server=$server"
