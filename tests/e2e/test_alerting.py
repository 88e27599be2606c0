"""Alerts name the unit and the account and say what to do; people hear the categories and units they
chose, by e-mail and group robots; silences stop pushes (never the record); the morning summary goes out
once a day from one hub."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.robots import build_robot_app
from syndicator.app import Hub
from syndicator.config import ConfigError, Settings, load_settings
from syndicator.summary import next_summary_at
from tests.hub_support import hub_settings

UNITS = [{"id": "ezfgw", "name": "鄂州市发展和改革委员会", "accounts": [
             {"id": "ezfgw-weibo", "kind": "weibo", "base_url": "http://127.0.0.1:9",
              "credentials": {"access_token": "tok-weibo-1"},
              "options": {"safe_domain": "example.gov.cn", "rip": "203.0.113.10"}}]},
         {"id": "ezjyj", "name": "鄂州市教育局", "accounts": [
             {"id": "ezjyj-site", "kind": "static", "options": {"directory": "site/ezjyj", "public_url": "https://jyj.example.gov.cn/zzbz/"}}]}]


def settings(tmp_path: Path, robots: str, **notify: Any) -> Settings:
    base = hub_settings(tmp_path, sources=[], units=UNITS)
    people = [{"name": "值班员", "wecom_key": "wk-duty", "daily_summary": True},
              {"name": "教育局信息员", "dingtalk_token": "dt-jyj", "dingtalk_secret": "SECjyj",
               "units": ["ezjyj"], "categories": ["overdue", "account"], "daily_summary": False}]
    data = base.model_dump()
    data["notify"] = {"people": people, "wecom_base_url": robots, "dingtalk_base_url": robots, **notify}
    return Settings.model_validate(data)


@pytest.fixture
async def robots(serve):
    app = build_robot_app(wecom_keys={"wk-duty"}, dingtalk={"dt-jyj": "SECjyj"})
    return await serve(app)


async def received(session, url: str) -> list[dict[str, Any]]:
    return await (await session.get(f"{url}/_sandbox/received")).json()


async def settle(hub: Hub) -> None:
    await hub.people.close()          # waits for the pushes in flight


async def test_an_account_alert_names_unit_and_account_and_says_what_to_do(tmp_path, robots, clock, session) -> None:
    async with Hub(settings(tmp_path, robots), clock=clock) as hub:
        await hub.alert("ezfgw-weibo", "账号授权失效，需重新授权：微博授权已失效（21332）")
        await settle(hub)
        stored = (await hub.store.alerts())[0][0]
        assert stored["category"] == "account" and stored["unit_id"] == "ezfgw"
        assert stored["account_id"] == "ezfgw-weibo"
        assert "鄂州市发展和改革委员会" in stored["message"] and "ezfgw-weibo" in stored["message"]
        assert "处理建议：" in stored["message"] and "恢复" in stored["message"]
    got = await received(session, robots)
    # the duty officer hears everything; the education bureau's 信息员 only its own unit
    assert [g["robot"] for g in got] == ["wecom"]
    assert "鄂州市发展和改革委员会" in got[0]["body"]["markdown"]["content"]


async def test_people_hear_only_their_categories_and_units(tmp_path, robots, clock, session) -> None:
    async with Hub(settings(tmp_path, robots), clock=clock) as hub:
        await hub.alert("ezjyj-site", "【已超时】《关于…的通知》（投递 #3）：已超过截止时间，尚未发布")
        await hub.alert("ezjyj-site", "发送失败需人工处理：目录不可写（投递 #4）")     # delivery: not chosen
        await settle(hub)
    got = await received(session, robots)
    dingtalk = [g for g in got if g["robot"] == "dingtalk"]
    assert len(dingtalk) == 1 and "已超时" in dingtalk[0]["body"]["markdown"]["text"]
    assert "鄂州市教育局" in dingtalk[0]["body"]["markdown"]["text"]
    assert len([g for g in got if g["robot"] == "wecom"]) == 2


async def test_a_silence_stops_pushes_but_keeps_the_record(tmp_path, robots, clock, session) -> None:
    async with Hub(settings(tmp_path, robots), clock=clock) as hub:
        now = clock.now()
        await hub.store.add_silence("account", "ezfgw-weibo", now + timedelta(hours=4), "operator", "正在处理", now)
        await hub.alert("ezfgw-weibo", "账号授权失效，需重新授权：21332")
        await settle(hub)
        assert len((await hub.store.alerts())[0]) == 1
        assert await received(session, robots) == []
        clock.advance(hours=5)                        # the silence has ended
        await hub.alert("ezfgw-weibo", "账号授权失效，需重新授权：21332")
        await settle(hub)
    assert len(await received(session, robots)) == 1


async def test_the_daily_summary_goes_out_once_per_day(tmp_path, robots, clock, session) -> None:
    async with Hub(settings(tmp_path, robots), clock=clock) as hub:
        assert await hub.send_daily_summary() is True
        assert await hub.send_daily_summary() is False          # same day: already sent (by us or a peer)
        clock.advance(days=1)
        assert await hub.send_daily_summary() is True
        actions, _n = await hub.store.alerts(kind="action")
    got = await received(session, robots)
    assert len(got) == 2 and all("每日摘要" in g["body"]["markdown"]["content"] for g in got)
    assert "今日到期未完成" in got[0]["body"]["markdown"]["content"]
    assert len(actions) == 2                                   # on record, apart from the alerts


async def test_the_summary_loop_fires_when_the_clock_passes_the_time(tmp_path, robots, clock, session) -> None:
    async with Hub(settings(tmp_path, robots, daily_summary_at="08:30"), clock=clock) as hub:
        stop = asyncio.Event()
        clock.set(datetime(2026, 11, 26, 0, 29, tzinfo=UTC))        # 08:29 Beijing
        loop = asyncio.create_task(hub.supervisor.loop("daily-summary", hub.summary_tick, stop, 0.01))
        await asyncio.sleep(0.05)
        assert await received(session, robots) == []
        clock.advance(minutes=2)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if await received(session, robots):
                break
        stop.set()
        await loop
    assert len(await received(session, robots)) == 1


def test_next_summary_time_is_the_next_local_occurrence() -> None:
    from core.clock import SHANGHAI

    morning = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)            # 08:00 Beijing
    assert next_summary_at(morning, "08:30", SHANGHAI) == datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI)
    assert next_summary_at(morning, "07:00", SHANGHAI) == datetime(2026, 11, 27, 7, 0, tzinfo=SHANGHAI)


def _write(tmp_path: Path, notify: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text('[[units]]\nid = "u"\nname = "单位"\n' + notify, encoding="utf-8")
    return path


def test_robot_keys_must_be_references_and_email_needs_a_mail_server(tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError) as inline:
        load_settings(_write(tmp_path, '[[notify.people]]\nname = "甲"\nwecom_key = "plain-key-123"\n'))
    assert "notify.people[0](name=甲).wecom_key" in str(inline.value) and "plain-key-123" not in str(inline.value)
    with pytest.raises(ConfigError) as mail:
        load_settings(_write(tmp_path, '[[notify.people]]\nname = "乙"\nemail = "a@b.cn"\n'))
    assert "[notify.smtp]" in str(mail.value)
    monkeypatch.setenv("DUTY_KEY", "wk-from-env")
    ok = load_settings(_write(tmp_path, '[[notify.people]]\nname = "丙"\nwecom_key = "${DUTY_KEY}"\n'))
    assert ok.notify.people[0].wecom_key.get_secret_value() == "wk-from-env"
    assert "wk-from-env" not in repr(ok.notify)
