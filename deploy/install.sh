#!/usr/bin/env bash
# Install or upgrade the syndicator hub on one server. Walk-through: docs/deploy.md.
#
#   sudo deploy/install.sh [--prefix /opt/syndicator] [--etc /etc/syndicator] [--data /var/lib/syndicator]
#                          [--user syndicator] [--no-system]
#
# Run it from an unpacked release (or a git checkout). It
#   1. copies the code to PREFIX (an upgrade replaces the code and keeps PREFIX/.venv),
#   2. creates or updates PREFIX/.venv and installs the package and its dependencies,
#   3. on first install writes ETC/syndicator.toml (from config/example.toml, paths pointing at DATA),
#      ETC/env (0600, from deploy/syndicator.env.example), ETC/sources/ and ETC/calendar/; an existing
#      config is never overwritten,
#   4. applies database migrations and validates the config (check-config),
#   5. unless --no-system: creates the system user, owns DATA, installs the systemd unit and the
#      logrotate file. Start with: systemctl enable --now syndicator.
# --no-system does steps 1–4 only (no root needed): for trying it out and for the project's own test.
set -euo pipefail

prefix=/opt/syndicator
etc=/etc/syndicator
data=/var/lib/syndicator
user=syndicator
system=1
python=${PYTHON:-python3}
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --etc) etc=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --user) user=$2; shift 2 ;;
        --no-system) system=0; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

src=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '[install] %s\n' "$*"; }

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "install.sh: Python 3.11 or newer is needed ($python)" >&2; exit 1; }

# 1. code
mkdir -p "$prefix"
if [ "$src" != "$(cd "$prefix" && pwd)" ]; then
    say "copying code to $prefix"
    for part in channels config core deploy docs feeds sandbox syndicator main.py pyproject.toml README.md; do
        [ -e "$src/$part" ] || continue
        rm -rf "${prefix:?}/$part"
        cp -R "$src/$part" "$prefix/$part"
    done
fi

# 2. virtual environment (kept across upgrades; pip brings dependencies to the versions pyproject asks for)
if [ ! -x "$prefix/.venv/bin/python" ]; then
    say "creating $prefix/.venv"
    "$python" -m venv "$prefix/.venv"
fi
say "installing the package into $prefix/.venv"
"$prefix/.venv/bin/python" -m pip install -q --upgrade pip
"$prefix/.venv/bin/python" -m pip install -q "$prefix"

# 3. configuration (first install only)
mkdir -p "$etc" "$data"
first_install=0
if [ ! -e "$etc/syndicator.toml" ]; then
    first_install=1
    say "writing $etc/syndicator.toml (edit it: units, accounts, public_url)"
    "$prefix/.venv/bin/python" - "$prefix/config/example.toml" "$etc/syndicator.toml" "$data" <<'PY'
import re, sys
src, dst, data = sys.argv[1:4]
text = open(src, encoding="utf-8").read()
text = re.sub(r'(?m)^data_dir = "[^"]*"', f'data_dir = "{data}"', text, count=1)
text = re.sub(r'(?m)^url = "sqlite:///[^"]*"', f'url = "sqlite:///{data}/syndicator.db"', text, count=1)
open(dst, "w", encoding="utf-8").write(text)
PY
    cp -R "$prefix/config/sources" "$etc/sources"
    mkdir -p "$etc/calendar"
    cp "$prefix/config/calendar/README.md" "$etc/calendar/README.md"
fi
if [ ! -e "$etc/env" ]; then
    say "writing $etc/env (mode 0600): put the channel secrets there"
    (umask 077; cp "$prefix/deploy/syndicator.env.example" "$etc/env")
fi

# 4. validation and migrations: check-config reads every file the hub will read; migrate brings the
# database schema to this release before the hub restarts. A fresh config still lacks its secrets:
# say what to do next instead of failing. An upgrade with an invalid config stops here, before the
# running hub is touched.
set -a; . "$etc/env"; set +a
if "$prefix/.venv/bin/python" "$prefix/main.py" check-config --config "$etc/syndicator.toml"; then
    "$prefix/.venv/bin/python" "$prefix/main.py" migrate --config "$etc/syndicator.toml"
elif [ "$first_install" = 1 ]; then
    say "the new config is not complete yet (see above): fill in $etc/env and $etc/syndicator.toml,"
    say "then run: $prefix/.venv/bin/python $prefix/main.py check-config --config $etc/syndicator.toml"
else
    echo "install.sh: $etc/syndicator.toml is invalid for this release (see above); the hub was not restarted" >&2
    exit 1
fi

# 5. system integration
if [ "$system" = 1 ]; then
    if ! id "$user" >/dev/null 2>&1; then
        say "creating system user $user"
        useradd --system --home-dir "$data" --shell /usr/sbin/nologin "$user"
    fi
    chown -R "$user:$user" "$data"
    chown root:"$user" "$etc/syndicator.toml"; chmod 0640 "$etc/syndicator.toml"
    chown root:root "$etc/env"; chmod 0600 "$etc/env"
    sed -e "s#/opt/syndicator#$prefix#g" -e "s#/etc/syndicator#$etc#g" -e "s#/var/lib/syndicator#$data#g" \
        -e "s#^User=.*#User=$user#" -e "s#^Group=.*#Group=$user#" \
        "$prefix/deploy/syndicator.service" > /etc/systemd/system/syndicator.service
    sed -e "s#/var/lib/syndicator#$data#g" "$prefix/deploy/logrotate.conf" > /etc/logrotate.d/syndicator
    systemctl daemon-reload 2>/dev/null || say "systemd not running here: unit installed, not loaded"
    say "done. Next: edit $etc/syndicator.toml and $etc/env, then: systemctl enable --now syndicator"
else
    say "done (--no-system). Run: $prefix/.venv/bin/python $prefix/main.py run --config $etc/syndicator.toml"
fi
