#!/usr/bin/env python3
"""Set-up and the two everyday commands, needing nothing but python3:

    python3 dev.py demo     create .venv and install on first use, then run `main.py demo`
    python3 dev.py test     the same set-up (plus Debian's chromium for browser tests when root),
                            then ruff and the whole pytest suite. Without chromium the browser
                            tests are skipped with a note — except when CI is set in the
                            environment: CI must run the bot-gate test, so a missing browser
                            fails the run

Anything after the command is passed on (e.g. `python3 dev.py test -k weibo`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def run(cmd: list[str], **kwargs: object) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, **kwargs)  # type: ignore[arg-type]


def ensure_venv() -> None:
    """Create the venv and install the project with its test extras, again whenever pyproject changes."""
    stamp = VENV / ".installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and stamp.exists() and stamp.read_text() == want:
        return
    if not PY.exists():
        if run([sys.executable, "-m", "venv", str(VENV)]) != 0:
            sys.exit("could not create .venv (on Debian: apt-get install python3-venv)")
    if run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"]) != 0:
        sys.exit("pip upgrade failed")
    if run([str(PY), "-m", "pip", "install", "-q", "-e", ".[test]"]) != 0:
        sys.exit("installing the project failed")
    stamp.write_text(want)


CHROMIUM = Path("/usr/bin/chromium")          # what feeds.browser launches
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")   # Chinese text in browser-test screenshots


def ensure_chromium() -> bool:
    """Browser-mode tests need Debian's chromium (and a CJK font, so their screenshots show Chinese); install
    what is missing when we may. True: go on (it is there, or it is missing and those tests will skip);
    False: stop (CI without a browser)."""
    wanted = {"chromium": CHROMIUM, "fonts-wqy-microhei": CJK_FONT}
    missing = [name for name, path in wanted.items() if not path.exists()]
    if not missing:
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        why = "not root" if shutil.which("apt-get") else "no apt-get"
        if CHROMIUM.exists():
            print(f"note: {' '.join(missing)} missing ({why}): screenshots may show boxes for Chinese", flush=True)
            return True
        return missing_chromium(f"chromium is not installed at {CHROMIUM} and cannot be installed here ({why}); "
                                "run `apt-get install chromium fonts-wqy-microhei` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if run(["apt-get", "update", "-qq"], env=env) != 0 or run(
            ["apt-get", "install", "-y", "-qq", *missing], env=env, stdout=subprocess.DEVNULL) != 0:
        return missing_chromium(f"could not install {' '.join(missing)} (apt-get failed)")
    return CHROMIUM.exists() or missing_chromium(f"apt-get installed chromium, but not at {CHROMIUM}")


def missing_chromium(why: str) -> bool:
    """Locally a note (the browser tests skip); in CI an error, since CI must run the bot-gate test."""
    if os.environ.get("CI"):
        print(f"error: {why}. CI must run the browser (bot-gate) tests.", file=sys.stderr, flush=True)
        return False
    print(f"note: {why}; browser tests will be skipped", flush=True)
    return True


def ensure_postgres() -> None:
    """Start the machine's PostgreSQL if it is installed but down; its tests skip otherwise."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return
    except OSError:
        pass
    versions = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") and versions.is_dir():
        for version in sorted(p.name for p in versions.iterdir()):
            run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"])


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv()
    if command == "demo":
        return run([str(PY), "main.py", "demo", *rest])
    if not ensure_chromium():
        return 1
    ensure_postgres()
    if run([str(BIN / "ruff"), "check", "."]) != 0:
        return 1
    return run([str(PY), "-m", "pytest", *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
