"""check-config catches what a platform would refuse on every delivery (issue 14): a Weibo link template that gives
no page the unit's static export writes, a static export off the Weibo safe domain, an invalid JPush tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicator.config import ConfigError, load_settings


def write(tmp_path: Path, unit_id: str, weibo_options: str, push_options: str = "") -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(f"""
[[units]]
id = "{unit_id}"
name = "鄂州市发展和改革委员会"
  [[units.accounts]]
  id = "site"
  kind = "static"
  options = {{ directory = "site", public_url = "https://fgw.ezhou.gov.cn/zzbz/" }}
  [[units.accounts]]
  id = "weibo"
  kind = "weibo"
  credentials = {{ access_token = "${{T}}" }}
  options = {{ safe_domain = "ezhou.gov.cn", rip = "203.0.113.10"{weibo_options} }}
  [[units.accounts]]
  id = "app"
  kind = "push"
  credentials = {{ app_key = "${{K}}", master_secret = "${{S}}" }}
  options = {{ platform = ["android"]{push_options} }}
""", "utf-8")
    return path


@pytest.fixture(autouse=True)
def secrets(monkeypatch) -> None:
    for name in ("T", "K", "S"):
        monkeypatch.setenv(name, "x")


@pytest.mark.parametrize("template", [None, "{page_url}", "{page_url}?from=weibo"])
def test_templates_that_give_the_served_page_pass(tmp_path: Path, template: str | None) -> None:
    extra = "" if template is None else f', link_template = "{template}"'
    settings = load_settings(write(tmp_path, "ezfgw", extra))
    assert len(settings.accounts()) == 3


@pytest.mark.parametrize("template", ["https://fgw.ezhou.gov.cn/zzbz/{item_id}",
                                      "https://fgw.ezhou.gov.cn/zzbz/{guid}.html"])
def test_template_naming_no_written_page_is_rejected(tmp_path: Path, template: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "ezfgw", f', link_template = "{template}"'))
    (problem,) = info.value.problems
    assert "accounts[1](id=weibo).options.link_template" in problem and "does not write" in problem


def test_static_export_off_the_safe_domain_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "ezfgw", "")
    path.write_text(path.read_text("utf-8").replace('safe_domain = "ezhou.gov.cn"', 'safe_domain = "hubei.gov.cn"'))
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "10017" in info.value.problems[0] and "safe domain hubei.gov.cn" in info.value.problems[0]


@pytest.mark.parametrize(("unit_id", "template"), [
    ("ez-fgw", ""), ("ezfgw", ', audience_tag_template = "{unit_id} 新闻"'),
    ("ezfgw", ', audience_tag_template = "' + "x" * 41 + '"'),
])
def test_audience_tag_template_giving_an_invalid_jpush_tag_is_rejected(tmp_path: Path, unit_id: str,
                                                                         template: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, unit_id, "", template))
    (problem,) = info.value.problems
    assert "accounts[2](id=app).options.audience_tag_template" in problem and "invalid JPush tag" in problem
