#!/usr/bin/env bash
# Back up the hub's database: a consistent copy taken while the hub runs.
#
#   deploy/backup.sh --config /etc/syndicator/syndicator.toml [--out /var/lib/syndicator/backups]
#
# SQLite: the online backup API (sqlite3's .backup through Python), safe while the hub writes.
# PostgreSQL: pg_dump in custom format (restore with pg_restore). The newest copy is
# syndicator-latest.{db,dump}; deploy/logrotate.conf keeps 30 dated ones. Run it daily from a
# systemd timer or cron as the syndicator user (see docs/deploy.md).
set -euo pipefail

config=/etc/syndicator/syndicator.toml
out=""
python=${SYNDICATOR_PYTHON:-$(dirname "$0")/../.venv/bin/python}
while [ $# -gt 0 ]; do
    case "$1" in
        --config) config=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "backup.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$python" ] || python=python3

# The storage URL as the hub resolves it (relative SQLite paths are relative to the config file).
url=$("$python" - "$config" <<'PY'
import sys
from syndicator.config import load_settings
print(load_settings(sys.argv[1]).storage_url())
PY
)
if [ -z "$out" ]; then
    out=$("$python" - "$config" <<'PY'
import sys
from syndicator.config import load_settings
s = load_settings(sys.argv[1])
print(s.path(s.hub.data_dir) / "backups")
PY
)
fi
mkdir -p "$out"
umask 077

case "$url" in
    sqlite:///*)
        db=${url#sqlite:///}
        tmp="$out/.syndicator-latest.db.tmp"
        "$python" - "$db" "$tmp" <<'PY'
import sqlite3, sys
src = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
dst = sqlite3.connect(sys.argv[2])
with dst:
    src.backup(dst)
dst.close(); src.close()
PY
        mv -f "$tmp" "$out/syndicator-latest.db"
        echo "backup: $out/syndicator-latest.db"
        ;;
    postgres://*|postgresql://*)
        tmp="$out/.syndicator-latest.dump.tmp"
        pg_dump --format=custom --file="$tmp" "$url"
        mv -f "$tmp" "$out/syndicator-latest.dump"
        echo "backup: $out/syndicator-latest.dump"
        ;;
    *) echo "backup.sh: unsupported storage url" >&2; exit 2 ;;
esac
