"""The one redaction function: URL user-info, secret-named parameters, registered values; the log filter;
and ``${NAME}`` references in a source's url and headers."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from syndicator.config import ConfigError, load_settings
from syndicator.logs import guarded
from syndicator.redact import RedactingStream, redact, redact_any, register_secrets


@pytest.mark.parametrize(("text", "hidden"), [
    ("GET https://feed:pa55word@www.example.gov.cn/rss.xml", "pa55word"),
    ("https://api.weixin.qq.com/cgi-bin/draft/add?access_token=ACCESS123abc&x=1", "ACCESS123abc"),
    ("http://h/x?token=T0K3N&key=K3Y&secret=S3C&password=PW9&sign=5IGN", "T0K3N K3Y S3C PW9 5IGN"),
    ("url=http://h/cb?signature=abcd&msg_signature=ef01&timestamp=1", "abcd ef01"),
    ('{"access_token": "zzTOKzz", "expires_in": 7200}', "zzTOKzz"),
    ("appsecret=APPSEC1 master_secret=MS2", "APPSEC1 MS2"),
])
def test_masks_userinfo_and_secret_named_values(text: str, hidden: str) -> None:
    out = redact(text)
    for value in hidden.split():
        assert value not in out
    assert "***" in out


def test_keeps_ordinary_text() -> None:
    text = "delivery 12 to ezfgw-weibo will retry in 30 s: 平台限流 (https://www.gov.cn/zhengce/content/2026-11/25/x.htm)"
    assert redact(text) == text
    assert redact("timestamp=1795600000&nonce=abc") == "timestamp=1795600000&nonce=abc"


def test_registered_values_are_masked_in_any_form() -> None:
    register_secrets(["s3cr3t/with+chars&more"])
    for form in ("s3cr3t/with+chars&more", "s3cr3t%2Fwith%2Bchars%26more", "s3cr3t/with+chars&amp;more"):
        assert "s3cr3t" not in redact(f"before {form} after")
    assert redact_any({"a": ["x s3cr3t/with+chars&more"], "b": 3}) == {"a": ["x ***"], "b": 3}


def test_plain_word_secrets_are_found_among_many_and_next_to_chinese() -> None:
    register_secrets([f"acct-{i:05d}-Zq8" for i in range(20_000)])      # a province's worth of accounts
    assert redact("令牌acct-01234-Zq8已失效，acct-19999-Zq8.") == "令牌***已失效，***."
    assert redact("acct-01234-Zq8x stays: not a registered value") == "acct-01234-Zq8x stays: not a registered value"


def test_log_filter_masks_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = guarded(logging.StreamHandler(stream))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("calling %s", "https://u:pw0rd1@h/x?access_token=TOK999")
        try:
            raise RuntimeError("failed at https://h/x?secret=TRACE777")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "pw0rd1" not in out and "TOK999" not in out and "TRACE777" not in out and "RuntimeError" in out
    assert logging.getLogger("aiosqlite").getEffectiveLevel() >= logging.INFO
    assert logging.getLogger("asyncpg").getEffectiveLevel() >= logging.INFO


def test_redacting_stream() -> None:
    out = io.StringIO()
    RedactingStream(out).write("see http://a:b1b2b3@h/?token=q1q2q3\n")
    assert "b1b2b3" not in out.getvalue() and "q1q2q3" not in out.getvalue()


def _config(tmp_path: Path, url: str, headers: str = "") -> Path:
    path = tmp_path / "c.toml"
    path.write_text(f'''
[hub]
secrets_file = "s.toml"
stale_claim_seconds = 600
[[sources]]
id = "auth-feed"
name = "需要认证的上游"
kind = "rss"
url = "{url}"
{headers}
''', encoding="utf-8")
    (tmp_path / "s.toml").write_text('FEED_PW = "feed-pw-REF1"\nFEED_TOKEN = "feed-tok-REF2"\n', encoding="utf-8")
    return path


def test_source_url_and_headers_take_references(tmp_path: Path) -> None:
    settings = load_settings(_config(
        tmp_path, "https://reader:${FEED_PW}@feeds.example.gov.cn/rss.xml?token=${FEED_TOKEN}",
        'headers = { Authorization = "Bearer ${FEED_TOKEN}", "User-Agent" = "Mozilla/5.0" }'))
    source = settings.sources[0]
    assert source.url == "https://reader:feed-pw-REF1@feeds.example.gov.cn/rss.xml?token=feed-tok-REF2"
    assert source.headers == {"Authorization": "Bearer feed-tok-REF2", "User-Agent": "Mozilla/5.0"}
    shown = redact(f"{source.url} {source.headers}")
    assert "feed-pw-REF1" not in shown and "feed-tok-REF2" not in shown


def test_unresolved_source_reference_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\(id=auth-feed\)\.url: \$\{NOPE\} is set neither"):
        load_settings(_config(tmp_path, "https://feeds.example.gov.cn/rss.xml?token=${NOPE}"))
