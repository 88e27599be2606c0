"""Files of the static export that are not pages: where temporary files, the manifest and the lock live (a work
directory beside the served one), sweeping what dead writers left there and in the served directory, and reading
the index entry a page carries in its head whatever the page's size."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from html import unescape
from pathlib import Path
from typing import Any

ENTRY_META_NAME = "syndicator-entry"
MANIFEST = "manifest.json"         # in the work directory
LOCK = "lock"
LEGACY = (".manifest.json", ".lock")   # where versions before the work directory kept them
TMP_SUFFIX = ".tmp"
STALE_FOREIGN_TMP_SECONDS = 3600   # another host's temporary file this old belongs to a dead writer
HEAD_READ = 65536
HOST = hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()


def work_dir(root: Path, configured: Path | None = None) -> Path:
    """Where temporary files, the manifest and the lock of the export in ``root`` live (never served): the
    configured directory, else ``.<name>.syndicator`` beside ``root`` (one filesystem: renames stay atomic)."""
    return configured if configured is not None else root.parent / f".{root.name}.syndicator"


def _writer_alive(name: str, mtime: float, now: float) -> bool:
    """Whether the writer a temporary file's name starts with (pid-host-…) may still be writing it."""
    pid_text, _, rest = name.partition("-")
    host = rest.partition("-")[0]
    if not pid_text.isdigit() or host != HOST:
        return now - mtime < STALE_FOREIGN_TMP_SECONDS
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # alive, another user's
        return True
    return True


def sweep(root: Path, work: Path) -> list[str]:
    """Remove what dead writers left: temporary files in the work directory, and dot-files of ours that older
    versions wrote into the served directory (temporary files, the manifest — moved to the work directory when
    it has none — and the lock). Returns what was removed or moved. Run before the first write of a process."""
    done: list[str] = []
    now = time.time()
    for entry in _scan(work):
        if entry.name.endswith(TMP_SUFFIX) and not _writer_alive(entry.name, entry.stat().st_mtime, now):
            Path(entry.path).unlink(missing_ok=True)
            done.append(entry.path)
    for folder in (root, root / "articles"):
        for entry in _scan(folder):
            if entry.name.startswith(".") and entry.name.endswith(TMP_SUFFIX) and _legacy_tmp_dead(entry, now):
                Path(entry.path).unlink(missing_ok=True)
                done.append(entry.path)
    old_manifest, old_lock = (root / name for name in LEGACY)
    if old_manifest.exists():
        if (work / MANIFEST).exists():
            old_manifest.unlink(missing_ok=True)
        else:
            work.mkdir(parents=True, exist_ok=True)
            os.replace(old_manifest, work / MANIFEST)
        done.append(str(old_manifest))
    if old_lock.exists():
        old_lock.unlink(missing_ok=True)
        done.append(str(old_lock))
    return done


def _legacy_tmp_dead(entry: os.DirEntry[str], now: float) -> bool:
    """An old-style ``.<name>.<pid>.<thread>.tmp`` whose pid is gone (or unreadable and an hour old)."""
    parts = entry.name.rsplit(".", 3)
    pid = parts[1] if len(parts) == 4 else ""
    if not pid.isdigit():
        return now - entry.stat().st_mtime >= STALE_FOREIGN_TMP_SECONDS
    return not _writer_alive(f"{pid}-{HOST}-", entry.stat().st_mtime, now)


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return [e for e in os.scandir(folder) if e.is_file(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


_ENTRY_START = f'<meta name="{ENTRY_META_NAME}" content="'.encode()


def page_entry(path: str) -> Any:
    """The index entry a page carries in its head, read only as far as it goes: pages written now put it first
    in the head; older ones put it after a title of any length, so the read continues until the entry's end or
    the end of the head — never a fixed window that a long title can push the entry out of."""
    data = b""
    start = -1
    with open(path, "rb") as fh:
        while chunk := fh.read(HEAD_READ):
            scan_from = max(0, len(data) - len(_ENTRY_START))
            data += chunk
            if start < 0:
                start = data.find(_ENTRY_START, scan_from)
                if start < 0:
                    if data.find(b"</head>", max(0, scan_from - 7)) >= 0:
                        return None
                    continue
            end = data.find(b'">', start + len(_ENTRY_START))
            if end >= 0:
                raw = data[start + len(_ENTRY_START):end].decode("utf-8", errors="replace")
                return json.loads(unescape(raw))
    return None
