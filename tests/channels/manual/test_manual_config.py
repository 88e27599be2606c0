"""Manual units' configuration names the field that is wrong; signed links refuse what they must."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from channels.manual.column import title_matches
from channels.manual.links import check_token, make_token
from syndicator.config import ConfigError, load_settings

BASE = """
[web]
public_url = "{public}"
[[sources]]
id = "gwy"
name = "gwy"
kind = "rss"
url = "https://www.example.gov.cn/rss.xml"
units = ["*"]
[[units]]
id = "ezsj"
name = "鄂州市审计局"
  [[units.accounts]]
  id = "ezsj-manual"
  kind = "manual"
  credentials = {{ informant_wecom = "${{WK}}" }}
  options = {options}
"""


def load(tmp_path: Path, options: str, public: str = "https://hub.example.gov.cn") -> list[str]:
    (tmp_path / "s.toml").write_text(BASE.format(options=options, public=public), "utf-8")
    try:
        load_settings(tmp_path / "s.toml")
    except ConfigError as exc:
        return list(exc.problems)
    return []


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WK", "robot-key")


def test_a_good_manual_account_loads(tmp_path: Path) -> None:
    assert load(tmp_path, '{ column_url = "https://sj.example.gov.cn/zzbz/", informant = { wecom_credential = '
                          '"informant_wecom" } }') == []


@pytest.mark.parametrize(("options", "field"), [
    ('{ column_url = "ftp://x", informant = { wecom_credential = "informant_wecom" } }', "options.column_url"),
    ('{ column_url = "https://x.gov.cn/", informant = { name = "无联系方式" } }', "options.informant"),
    ('{ column_url = "https://x.gov.cn/", informant = { email = "not-an-address" } }', "options.informant.email"),
    ('{ column_url = "https://x.gov.cn/", informant = { wecom_credential = "nope" } }',
     "options.informant.wecom_credential"),
    ('{ column_url = "https://x.gov.cn/", informant = { email = "a@b.gov.cn" } }', "options.informant.email"),
    ('{ column_url = "https://x.gov.cn/", informant = { openid = "o1" } }', "options.informant.openid"),
    ('{ column_url = "https://x.gov.cn/", informant = { wecom_credential = "informant_wecom" }, '
     'responsible = { dingtalk_credential = "leader" } }', "options.responsible.dingtalk_credential"),
])
def test_mistakes_name_their_field(tmp_path: Path, options: str, field: str) -> None:
    problems = "\n".join(load(tmp_path, options))
    assert f"accounts[0](id=ezsj-manual).{field}" in problems, problems


def test_the_hub_public_url_is_required(tmp_path: Path) -> None:
    problems = "\n".join(load(tmp_path, '{ column_url = "https://x.gov.cn/", informant = { wecom_credential = '
                                        '"informant_wecom" } }', public=""))
    assert "web.public_url" in problems


def test_tokens_are_bound_to_secret_purpose_and_time() -> None:
    now = datetime(2026, 11, 25, 2, tzinfo=UTC)
    token = make_token("s" * 64, 42, "copy", now + timedelta(days=7))
    assert check_token("s" * 64, token, "copy", now).delivery_id == 42
    assert check_token("t" * 64, token, "copy", now).problem is not None          # another hub secret
    assert check_token("s" * 64, token, "done", now).problem is not None          # another purpose
    assert "过期" in (check_token("s" * 64, token, "copy", now + timedelta(days=8)).problem or "")
    forged = make_token("s" * 64, 43, "copy", now + timedelta(days=7)).split(".")[0] + "." + token.split(".")[1]
    assert check_token("s" * 64, forged, "copy", now).problem is not None         # another delivery, old MAC


def test_titles_match_normalised_and_cut_but_not_loosely() -> None:
    title = "国务院办公厅关于进一步规范行政裁量权基准制定和管理工作的意见"
    assert title_matches(title, "国务院办公厅关于进一步规范行政裁量权基准制定和管理工作的意见 ")
    assert title_matches(title, "国务院办公厅关于进一步规范行政裁量权基准制定和管理工作的意见（转载）")
    assert title_matches(title, "国务院办公厅关于进一步规范行政裁量权基准制定...")
    assert not title_matches(title, "国务院办公厅关于...")                          # too short a prefix to tell
    assert not title_matches(title, "国务院办公厅关于进一步规范行政裁量权基准的通知")
