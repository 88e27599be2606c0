"""Messages to people: WeCom and DingTalk group robots and e-mail, against their look-alikes."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from channels.base import PermanentError, RetryLater
from channels.notify.email import SmtpMailer, SmtpSettings
from channels.notify.robots import DingtalkRobot, WecomRobot, dingtalk_sign
from sandbox.common import Faults
from sandbox.robots import build_robot_app
from sandbox.smtp import start_smtp


@pytest.fixture
async def robots(serve):
    app = build_robot_app(wecom_keys={"wk-1234"}, dingtalk={"dt-plain": "", "dt-signed": "SECabc123"})
    return app, await serve(app)


async def test_wecom_robot_sends_markdown_and_the_lookalike_records_it(robots, session) -> None:
    _app, url = robots
    await WecomRobot(session, "wk-1234", url).send("稿件即将超时", "鄂州市发展和改革委员会 · 网站：《关于…的通知》")
    received = await (await session.get(f"{url}/_sandbox/received")).json()
    assert received[-1]["body"]["msgtype"] == "markdown"
    assert "鄂州市发展和改革委员会" in received[-1]["body"]["markdown"]["content"]
    assert received[-1]["query"]["key"] == "wk-1234"


async def test_wecom_wrong_key_is_a_configuration_error_without_the_key(robots, session) -> None:
    _app, url = robots
    with pytest.raises(PermanentError) as caught:
        await WecomRobot(session, "wk-wrong-secret-key", url).send("t", "x")
    assert caught.value.code == 93000 and "wk-wrong-secret-key" not in str(caught.value) + caught.value.reason


async def test_wecom_oversized_content_is_clipped_to_the_documented_4096_bytes(robots, session) -> None:
    _app, url = robots
    await WecomRobot(session, "wk-1234", url).send("长消息", "汉" * 5000)   # 15,000 bytes before clipping
    received = await (await session.get(f"{url}/_sandbox/received")).json()
    assert len(received[-1]["body"]["markdown"]["content"].encode()) <= 4096


async def test_wecom_rate_limit_is_retry_later(robots, session) -> None:
    _app, url = robots
    robot = WecomRobot(session, "wk-1234", url)
    for n in range(20):
        await robot.send(f"第{n}条", "x")
    with pytest.raises(RetryLater) as caught:
        await robot.send("第21条", "x")
    assert caught.value.code == 45009 and caught.value.retry_after


async def test_dingtalk_signed_robot_accepts_our_signature_and_refuses_a_wrong_one(robots, session) -> None:
    _app, url = robots
    await DingtalkRobot(session, "dt-signed", "SECabc123", url).send("逾期提醒", "两条稿件已超时")
    with pytest.raises(PermanentError) as caught:
        await DingtalkRobot(session, "dt-signed", "SECwrong", url).send("逾期提醒", "x")
    assert caught.value.code == 310000 and "SECwrong" not in caught.value.detail


async def test_dingtalk_stale_timestamp_is_refused(robots, session) -> None:
    _app, url = robots
    two_hours_ago = int(time.time() * 1000) - 2 * 3600 * 1000
    robot = DingtalkRobot(session, "dt-signed", "SECabc123", url, now_ms=lambda: two_hours_ago)
    with pytest.raises(PermanentError):
        await robot.send("t", "x")


def test_dingtalk_signature_matches_the_documented_example_shape() -> None:
    # HMAC-SHA256 over "timestamp\nsecret", base64, then URL-encoded (the doc's Python sample)
    sign = dingtalk_sign("this is secret", 1700000000000)
    assert "%" in sign or sign.isalnum()
    assert dingtalk_sign("this is secret", 1700000000000) == sign != dingtalk_sign("this is secret", 1700000000001)


async def test_dingtalk_unknown_token_and_throttling(robots, session) -> None:
    _app, url = robots
    with pytest.raises(PermanentError) as caught:
        await DingtalkRobot(session, "dt-none", "", url).send("t", "x")
    assert caught.value.code == 300001
    robot = DingtalkRobot(session, "dt-plain", "", url)
    for _ in range(20):
        await robot.send("t", "x")
    with pytest.raises(RetryLater) as limited:
        await robot.send("t", "x")
    assert limited.value.code == 130101


async def test_robot_injected_errors_and_outage(robots, session, serve) -> None:
    _app, url = robots
    await session.post(f"{url}/_sandbox/faults", json=Faults(script=[45009]).model_dump())
    with pytest.raises(RetryLater):
        await WecomRobot(session, "wk-1234", url).send("t", "x")
    with pytest.raises(RetryLater) as down:      # nothing listens there: the message never left (channels.failures)
        await WecomRobot(session, "wk-1234", "http://127.0.0.1:9").send("t", "x")
    assert not down.value.ambiguous and "无法连接" in down.value.reason


@pytest.fixture
async def mail_server():
    server, recorder = await start_smtp(user="hub", password="mail-pass-marker")
    port = server.sockets[0].getsockname()[1]
    yield port, recorder
    server.close()
    await server.wait_closed()


def _smtp(port: int, password: str = "mail-pass-marker") -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security="none", username="hub",
                        password=SecretStr(password), sender="转载中枢 <syndicator@ezhou.gov.cn>")


async def test_email_is_delivered_in_utf8(mail_server) -> None:
    port, recorder = mail_server
    await SmtpMailer(_smtp(port), "xinxiyuan@ezfgw.gov.cn").send("【待转载】关于…的通知", "截止：12月7日 24:00")
    assert recorder.messages[-1]["to"] == ["xinxiyuan@ezfgw.gov.cn"]
    assert recorder.messages[-1]["subject"] == "【待转载】关于…的通知"
    assert "12月7日" in recorder.messages[-1]["text"]


async def test_email_wrong_password_is_permanent_and_never_echoed(mail_server) -> None:
    port, _recorder = mail_server
    with pytest.raises(PermanentError) as caught:
        await SmtpMailer(_smtp(port, "wrong-pass-marker"), "a@b.cn").send("t", "x")
    assert "wrong-pass-marker" not in caught.value.detail + caught.value.reason


async def test_email_transient_and_permanent_reply_codes(mail_server) -> None:
    port, recorder = mail_server
    mailer = SmtpMailer(_smtp(port), "a@b.cn")
    recorder.script.extend(["451 4.3.0 try again later", "550 5.1.1 no such user"])
    with pytest.raises(RetryLater):
        await mailer.send("t", "x")
    with pytest.raises(PermanentError):
        await mailer.send("t", "x")
    await mailer.send("t", "x")
    assert len(recorder.messages) == 1


async def test_email_server_down_is_retry_later() -> None:
    with pytest.raises(RetryLater):
        await SmtpMailer(_smtp(9), "a@b.cn").send("t", "x")
