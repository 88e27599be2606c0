"""The deployment kit in deploy/ and the walk-through in docs/deploy.md.

Each file is checked by its own tool where the machine has it (systemd-analyze, nginx, logrotate)
and by a syntax check otherwise; the "(tested)" blocks of docs/deploy.md are run in order on a
fresh directory, so the page a government IT office follows cannot drift from what works.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
DEPLOY = ROOT / "deploy"


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]


def test_systemd_unit_runs_unprivileged_restarts_and_reads_an_env_file(tmp_path: Path) -> None:
    unit = (DEPLOY / "syndicator.service").read_text(encoding="utf-8")
    fields = dict(re.findall(r"(?m)^(\w+)=(.*)$", unit))
    assert fields["User"] == "syndicator" and fields["Restart"] == "on-failure"
    assert fields["EnvironmentFile"] == "/etc/syndicator/env"
    assert fields["NoNewPrivileges"] == "yes" and fields["ProtectSystem"] == "strict"
    assert "main.py run --config /etc/syndicator/syndicator.toml" in fields["ExecStart"]
    # the stop timeout leaves room for sends in flight (hub.send_timeout_seconds defaults to 60)
    assert int(fields["TimeoutStopSec"]) > 60
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed: only the field checks ran")
    prefix = tmp_path / "opt"
    (prefix / ".venv" / "bin").mkdir(parents=True)
    (prefix / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (prefix / "main.py").touch()
    copy = tmp_path / "syndicator.service"
    copy.write_text(unit.replace("/opt/syndicator", str(prefix)), encoding="utf-8")
    result = _run(["systemd-analyze", "verify", str(copy)])
    assert result.returncode == 0, result.stderr


def _nginx_blocks_balanced(text: str) -> None:
    depth = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"line {n}: unbalanced }}"
        if not line.endswith(("{", "}", ";")) and not line.endswith("'"):
            raise AssertionError(f"line {n}: directive does not end with ';': {raw!r}")
    assert depth == 0, "unbalanced braces"


def test_nginx_example_is_valid_and_keeps_query_strings_out_of_logs(tmp_path: Path) -> None:
    site = (DEPLOY / "nginx-syndicator.conf").read_text(encoding="utf-8")
    _nginx_blocks_balanced(site)
    assert "location /wechat/callback/" in site
    # the hub believes X-Forwarded-For from this proxy: it must replace, not append to, the client's
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    assert "$request_uri" not in site.split("log_format", 1)[1].split(";", 1)[0]
    if shutil.which("nginx") is None or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl not installed: only the syntax check ran")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                 "-days", "1", "-subj", "/CN=syndicator.test"])
    assert made.returncode == 0, made.stderr
    (tmp_path / "logs").mkdir()
    local = (site.replace("/etc/ssl/syndicator/fullchain.pem", str(cert))
             .replace("/etc/ssl/syndicator/privkey.pem", str(key))
             .replace("/var/log/nginx/", f"{tmp_path}/logs/"))
    (tmp_path / "site.conf").write_text(local, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{\n    include {tmp_path}/site.conf;\n}}\n", encoding="utf-8")
    result = _run(["nginx", "-t", "-c", str(tmp_path / "nginx.conf"), "-p", f"{tmp_path}/"])
    assert result.returncode == 0, result.stderr


def test_logrotate_config_parses() -> None:
    text = (DEPLOY / "logrotate.conf").read_text(encoding="utf-8")
    assert text.count("{") == text.count("}") > 0
    if shutil.which("logrotate") is None:
        pytest.skip("logrotate not installed: only the syntax check ran")
    result = _run(["logrotate", "--debug", str(DEPLOY / "logrotate.conf")])
    assert "error:" not in result.stderr, result.stderr


def _example_secret_names() -> set[str]:
    """The "${NAME}" references of config/example.toml outside its comments."""
    lines = (ROOT / "config" / "example.toml").read_text(encoding="utf-8").splitlines()
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    return set(re.findall(r'"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"', code))


def test_env_example_names_every_secret_the_example_config_uses() -> None:
    env = (DEPLOY / "syndicator.env.example").read_text(encoding="utf-8")
    names = _example_secret_names()
    assert names
    assert all(re.search(rf"(?m)^#? ?{name}=", env) for name in names), names


def _tested_blocks(markdown: str) -> list[str]:
    """The ```sh blocks of a section headed '(tested)', or right after a line ending '(tested):'."""
    blocks: list[str] = []
    in_tested_section = marked = False
    lines = iter(markdown.splitlines())
    for line in lines:
        if line.startswith("## "):
            in_tested_section = "(tested)" in line
        if line.strip() == "```sh":
            body = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                body.append(inner)
            if in_tested_section or marked:
                blocks.append("\n".join(body))
            marked = False
            continue
        if line.strip():
            marked = line.rstrip().endswith("(tested):")
    return blocks


def test_tested_blocks_are_found() -> None:
    blocks = _tested_blocks((ROOT / "docs" / "deploy.md").read_text(encoding="utf-8"))
    joined = "\n".join(blocks)
    for step in ("install.sh", "hash-password", "check-config", "backup.sh", "migrate"):
        assert step in joined, step
    assert "systemctl" not in joined and "nginx -t" not in joined   # system steps are not run here


@pytest.mark.slow
def test_walkthrough_installs_checks_backs_up_and_upgrades_on_a_fresh_directory(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    release = tmp_path / "release"
    release.mkdir()
    files = _run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT).stdout.split()
    for rel in files:
        src = ROOT / rel
        if src.is_file():
            (release / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, release / rel)
    secrets = {name: f"test-{name.lower()}-marker" for name in _example_secret_names()}
    env = {**os.environ, **secrets, "PREFIX": str(tmp_path / "opt"), "ETC": str(tmp_path / "etc"),
           "DATA": str(tmp_path / "data"), "NO_SYSTEM": "1", "PYTHON": sys.executable}
    env.pop("VIRTUAL_ENV", None)
    script = "set -eu\n" + "\n".join(_tested_blocks((ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")))
    result = _run(["bash", "-c", script], cwd=release, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "database schema at version" in result.stdout
    assert (tmp_path / "etc" / "syndicator.toml").is_file()
    assert oct((tmp_path / "etc" / "env").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "data" / "syndicator.db").is_file()
    assert (tmp_path / "data" / "backups" / "syndicator-latest.db").stat().st_size > 0
    for secret in secrets.values():
        assert secret not in result.stdout + result.stderr
