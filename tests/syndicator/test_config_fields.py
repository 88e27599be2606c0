"""`check-config` names the field of every error in plain words: duplicate ids at their own path, the secrets
file and preset files at the setting that names them, and no pydantic noise ("Value error,", "(top level)")."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicator.config import ConfigError, load_settings
from tests.syndicator.test_config_cli import cli, write

HOOK = '''  [[units.accounts]]
  id = "{id}"
  kind = "webhook"
  credentials = {{ secret = "${{HOOK}}" }}
  options = {{ url = "https://x.example/h" }}
'''
SOURCE = "[[sources]]\nid = '{id}'\nname = 'n'\nkind = 'rss'\nurl = 'https://www.gov.cn/rss.xml'\n"


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert "Value error" not in text and "(top level)" not in text
    return err.value.problems


def test_duplicate_ids_are_named_at_their_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK", "secret-value")
    body = SOURCE.format(id="gwy") + SOURCE.format(id="gwy")
    body += "[[units]]\nid = 'u1'\nname = '一'\n" + HOOK.format(id="a") + HOOK.format(id="b")
    body += "[[units]]\nid = 'u2'\nname = '二'\n" + HOOK.format(id="a")
    body += "[[units]]\nid = 'u1'\nname = '三'\n"
    found = problems(write(tmp_path, body))
    assert "sources[1].id: duplicate source id 'gwy' (already used at sources[0].id); ids must be unique" in found
    assert "units[2].id: duplicate unit id 'u1' (already used at units[0].id); ids must be unique" in found
    assert ("units[1].accounts[0].id: duplicate account id 'a' (already used at units[0].accounts[0].id); "
            "ids must be unique") in found
    assert len(found) == 3


def test_secrets_file_problems_name_hub_secrets_file(tmp_path: Path) -> None:
    missing = problems(write(tmp_path, '[hub]\nsecrets_file = "nope.toml"\n'))
    assert len(missing) == 1 and missing[0].startswith("hub.secrets_file: 'nope.toml' (")
    assert missing[0].endswith("file not found")
    write(tmp_path, 'HOOK = "s3cr3t-value\n', "bad.toml")
    broken = problems(write(tmp_path, '[hub]\nsecrets_file = "bad.toml"\n'))
    assert len(broken) == 1 and broken[0].startswith("hub.secrets_file: 'bad.toml' (") and "not valid TOML" in broken[0]
    assert "s3cr3t" not in broken[0]
    wrong_type = problems(write(tmp_path, "[hub]\nsecrets_file = 3\n"))
    assert wrong_type[0].startswith("hub.secrets_file: must be a file name")


def test_preset_file_problems_name_source_files_index(tmp_path: Path) -> None:
    write(tmp_path, SOURCE.format(id="ok"), "good.toml")
    write(tmp_path, "[[sources]\n", "broken.toml")
    found = problems(write(tmp_path, 'source_files = ["good.toml", "presets/missing.toml", "broken.toml"]\n'))
    assert found[0].startswith("source_files[1]: 'presets/missing.toml' (") and found[0].endswith("file not found")
    assert found[1].startswith("source_files[2]: 'broken.toml' (") and "not valid TOML" in found[1]


def test_an_error_in_a_preset_source_names_the_preset_file_and_entry(tmp_path: Path) -> None:
    write(tmp_path, SOURCE.format(id="a") + SOURCE.format(id="b").replace("https://www", "ftp://www"), "p.toml")
    (problem,) = problems(write(tmp_path, 'source_files = ["p.toml"]\n' + SOURCE.format(id="main")))
    assert problem.startswith("source_files[0] 'p.toml': sources[1] → sources[2](id=b).url: ")
    assert "must be an http:// or https:// URL" in problem


def test_model_level_errors_carry_their_section_without_pydantic_noise(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, "[hub]\nstale_claim_seconds = 10\nsend_timeout_seconds = 60\n"))
    assert problem.startswith("hub: stale_claim_seconds must be longer than twice send_timeout_seconds")


def test_check_config_prints_the_fields(tmp_path: Path) -> None:
    config = write(tmp_path, '[hub]\nsecrets_file = "nope.toml"\n' + SOURCE.format(id="x") + SOURCE.format(id="x"))
    out = cli("check-config", "--config", str(config))
    assert out.returncode == 2 and "hub.secrets_file: 'nope.toml'" in out.stderr
    assert "Value error" not in out.stderr
