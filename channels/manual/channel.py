"""The ``manual`` channel: for units whose CMS has no API, the hub tells the unit's 信息员 and watches.

publish() sends the 信息员 a notice (title, upstream link, deadline, a signed link to a copy-ready page on
the hub and a signed "已转载，填写链接" form) and returns a pending receipt, so the delivery waits in
``confirming``. The dispatcher's confirmation loop calls confirm() every ``confirm_interval_seconds``: it looks
for the item on the unit's column page (and on a page the 信息员 reported), and the delivery becomes delivered
only when the public page shows it. The deadline applies as for any delivery: still unseen at the deadline
means overdue in the delay log, and a reprint seen later is delivered late.

Nothing is sent twice: the notice is remembered in the store's key-value table per delivery key, so a retry or
a resend after a crash finds it (lookup) instead of notifying again. Reminders and escalation are sent by
``remind`` (driven by the delay monitor through syndicator.manual_desk), each once per delivery and kind.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from channels.base import Channel, PermanentError, Receipt, RetryLater
from channels.manual.column import Sighting, find_on_column, find_on_page
from channels.manual.contacts import Reach, notifiers_for, send_all
from channels.manual.links import link_secret, make_token
from channels.manual.options import Contact, ManualOptions
from core.clock import SHANGHAI
from core.fetch import Fetcher, FetchError
from core.models import Delivery, Item, UnitRef

log = logging.getLogger(__name__)
KEEP_S = 60 * 86_400            # notice facts kept this long (well past any deadline)
COLUMN_ALERT_S = 3600           # an unreadable column page is alerted at most once an hour per account
DeliveryByKey = Callable[[str, str], Awaitable[Delivery | None]]


def deadline_text(when: datetime) -> str:
    local = when.astimezone(SHANGHAI)
    if (local.hour, local.minute) == (0, 0):
        return f"{(local - timedelta(days=1)):%Y年%m月%d日} 24:00"
    return f"{local:%Y年%m月%d日 %H:%M}"


class ManualChannel(Channel):
    kind = "manual"
    Options = ManualOptions
    options: ManualOptions

    def __init__(self, account: Any, ctx: Any) -> None:
        super().__init__(account, ctx)
        missing = [n for c in self._contacts() for n in c.credential_names() if n not in account.credentials]
        if missing:
            raise ValueError(f"account {account.id}: options name credentials that are not set: {', '.join(missing)}")
        self.reach: Reach = ctx.extra.get("manual_reach") or Reach()
        fetch = ctx.extra.get("fetch")
        self.fetcher = Fetcher(ctx.session, user_agent=getattr(fetch, "user_agent", "syndicator/0.1"),
                               timeout=getattr(fetch, "timeout_seconds", 20),
                               max_bytes=getattr(fetch, "max_bytes", 5_000_000),
                               max_redirects=getattr(fetch, "max_redirects", 5),
                               per_host=getattr(fetch, "per_host_concurrency", 2))

    def _contacts(self) -> list[Contact]:
        return _contacts(self.options)

    @classmethod
    def config_problems(cls, account: Any, options: ManualOptions, settings: Any) -> list[str]:
        """What the options alone cannot tell: named credentials set, a mail server, a console account, and
        the hub's public URL (the links in a notice point at it). Each names its field."""
        problems: list[str] = []
        for role, contact in (("informant", options.informant), ("responsible", options.responsible)):
            if contact is None:
                continue
            for field in ("wecom_credential", "dingtalk_credential", "dingtalk_secret_credential"):
                name = getattr(contact, field)
                if name and name not in account.credentials:
                    problems.append(f"options.{role}.{field}: credential {name!r} is not set in credentials")
            if contact.email and settings.notify.smtp is None:
                problems.append(f"options.{role}.email: needs a mail server in [notify.smtp]")
            if contact.openid and not any(a.kind == "wechat" for _u, a in settings.accounts()):
                problems.append(f"options.{role}.openid: needs a WeChat official account (the console's) to "
                                "send through")
        if not settings.web.public_url:
            problems.append("kind: manual units need web.public_url (the copy and report links in a notice)")
        return problems

    # ------------------------------------------------------------------ keys
    def _k(self, what: str, key: str) -> str:
        return f"manual:{what}:{self.account.id}:{key}"

    async def _facts(self, key: str) -> dict[str, Any]:
        raw = await self.ctx.kv.get(self._k("item", key))
        if not raw:
            raise PermanentError("未找到该稿件的通知记录，无法核对转载，请人工处理", f"no manual:item record for {key}")
        facts: dict[str, Any] = json.loads(raw)
        return facts

    # ------------------------------------------------------------------ notice
    def render(self, item: Item, unit: UnitRef) -> dict[str, str]:
        return {"title": f"【转载任务】{item.title}", "item_title": item.title, "upstream": item.url,
                "unit": unit.name}

    async def links(self, delivery_id: int, now: datetime) -> tuple[str, str]:
        """(copy page URL, report-done form URL), signed, valid ``link_valid_days``."""
        secret = await link_secret(self.ctx.kv, self.ctx.holder_id)
        expires = now + timedelta(days=self.options.link_valid_days)
        base = self.ctx.public_url.rstrip("/")
        return (f"{base}/manual/copy/{make_token(secret, delivery_id, 'copy', expires)}",
                f"{base}/manual/done/{make_token(secret, delivery_id, 'done', expires)}")

    def notice_text(self, item: Item, unit: UnitRef, d: Delivery, copy_url: str, done_url: str) -> str:
        return "\n".join([
            f"{unit.name}信息员：请将以下稿件转载到本单位网站栏目（{self.options.column_url}）。",
            f"标题：{item.title}",
            f"原文链接：{item.url}",
            f"截止时间：{deadline_text(d.deadline_at)}（北京时间）",
            f"可复制的正文和图片：{copy_url}",
            f"已转载，填写链接：{done_url}",
            f"也可在公众号回复“已转载 {d.id} 转载页面链接”。发布后系统会自动在栏目页核对。",
        ])

    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        if await self.ctx.kv.get(self._k("notified", key)):
            return await self._pending(key, "已通知信息员（此前已发送，未重复通知）")
        lookup: DeliveryByKey | None = self.ctx.extra.get("delivery_by_key")
        d = await lookup(self.account.id, key) if lookup else None
        if d is None or d.id is None:
            raise PermanentError("未找到对应的投递记录，无法生成通知", f"no delivery for key {key}")
        now = self.ctx.clock.now()
        await self.ctx.kv.put(self._k("item", key), json.dumps(
            {"delivery_id": d.id, "title": item.title, "url": item.url, "unit": unit.name}, ensure_ascii=False),
            KEEP_S)
        copy_url, done_url = await self.links(d.id, now)
        view = self.render(item, unit)
        sent, errors = await send_all(notifiers_for(self.options.informant, self.account, self.ctx, self.reach),
                                      view["title"], self.notice_text(item, unit, d, copy_url, done_url))
        if not sent:
            raise _none_accepted(errors)
        await self.ctx.kv.put(self._k("notified", key), now.isoformat(), KEEP_S)
        log.info("manual %s: delivery %s notified to the informant via %s", self.account.id, d.id, ", ".join(sent))
        if errors:
            await self.ctx.alert(self.account.id, "通知信息员时部分方式失败：" + "；".join(e.reason for e in errors))
        return await self._pending(key, f"已通知信息员（{'、'.join(sent)}），等待栏目页出现该稿件")

    async def _pending(self, key: str, note: str) -> Receipt:
        return Receipt(external_id=key, pending=True, note=note)

    async def lookup(self, key: str) -> Receipt | None:
        """A notice already sent for this key (an interrupted send) is found here instead of sent again."""
        if await self.ctx.kv.get(self._k("notified", key)):
            return await self._pending(key, "已通知信息员")
        return None

    # ------------------------------------------------------------------ verification
    async def confirm(self, receipt: Receipt) -> Receipt | None:
        key = receipt.external_id
        facts = await self._facts(key)
        now = self.ctx.clock.now()
        reported = await self.ctx.kv.get(self._k("reported", key))
        if reported:
            try:
                seen = await find_on_page(self.fetcher, reported, facts["title"], encoding=self.options.encoding,
                                          now=now)
            except FetchError:
                seen = None          # the column page may still show it; the report was checked when made
            if seen is not None:
                return self._final(key, seen, "信息员报告已转载，已打开转载页面核对标题一致")
        try:
            seen = await find_on_column(self.fetcher, self.options.column_url, facts["title"], facts.get("url", ""),
                                        match=self.options.match, encoding=self.options.encoding, now=now)
        except FetchError as exc:
            reason = f"无法读取单位栏目页，暂不能核对转载：{_fetch_reason(exc)}"
            if not await self.ctx.kv.get(f"manual:column-alerted:{self.account.id}"):
                await self.ctx.kv.put(f"manual:column-alerted:{self.account.id}", now.isoformat(), COLUMN_ALERT_S)
                await self.ctx.alert(self.account.id, reason)
            raise RetryLater(reason, str(exc), retry_after=exc.retry_after) from None
        if seen is None:
            return None
        return self._final(key, seen, "已在单位栏目页核对到该稿件")

    def _final(self, key: str, seen: Sighting, note: str) -> Receipt:
        proof = {"page_url": seen.page_url, "link": seen.link, "title": seen.shown_title, "http_status": seen.status,
                 "fetched_at": seen.fetched_at.isoformat(), "page_sha256": seen.page_sha256}
        return Receipt(external_id=key, url=seen.link, note=note, raw=proof)

    async def check_report(self, key: str, url: str) -> str | None:
        """The 信息员 says the reprint is at ``url``: None when the page shows the item (remembered for confirm),
        else why not, in Chinese."""
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "请填写以 http:// 或 https:// 开头的完整转载页面链接"
        allowed = self.options_hosts()
        if parts.hostname.lower() not in allowed:
            return f"链接不在本单位网站（{'、'.join(sorted(allowed))}）上，请填写本单位网站上的转载页面链接"
        facts = await self._facts(key)
        try:
            seen = await find_on_page(self.fetcher, url, facts["title"], encoding=self.options.encoding,
                                      now=self.ctx.clock.now())
        except FetchError as exc:
            return f"无法打开该链接（{_fetch_reason(exc)}），请确认页面已公开发布后再提交"
        if seen is None:
            return f"该页面上未找到稿件标题《{facts['title']}》，请确认链接是本稿件的转载页面"
        await self.ctx.kv.put(self._k("reported", key), seen.page_url, KEEP_S)
        return None

    def options_hosts(self) -> set[str]:
        host = urlsplit(self.options.column_url).hostname or ""
        return {host.lower(), *(h.lower() for h in self.options.report_hosts)}

    async def verify(self, unit: UnitRef) -> str:
        """check-config --online: the column page can be read (nothing is sent to anyone)."""
        try:
            result = await self.fetcher.fetch(self.options.column_url, encoding=self.options.encoding)
        except FetchError as exc:
            raise RetryLater(f"无法读取单位栏目页：{_fetch_reason(exc)}", str(exc)) from None
        return f"栏目页可读取（HTTP {result.status}，编码 {result.encoding}）；未向信息员发送消息"

    # ------------------------------------------------------------------ reminders
    async def remind(self, d: Delivery, kind: str, title: str) -> str | None:
        """At-risk: remind the 信息员; overdue: remind them and escalate to the responsible person. Once per
        delivery and kind (remembered in the key-value table). Returns what was done, for the audit log."""
        assert d.id is not None
        mark = f"manual:reminded:{kind}:{d.id}"
        if await self.ctx.kv.get(mark):
            return None
        now = self.ctx.clock.now()
        copy_url, done_url = await self.links(d.id, now)
        due = deadline_text(d.deadline_at)
        if kind == "at_risk":
            head = f"【即将超时提醒】{title}"
            body = (f"该稿件截止时间为 {due}，栏目页尚未发现转载。请尽快发布到 {self.options.column_url}。\n"
                    f"可复制的正文：{copy_url}\n已转载，填写链接：{done_url}")
            targets = [("信息员", self.options.informant)]
        else:
            head = f"【已超时】{title}"
            body = (f"该稿件已超过截止时间 {due}，栏目页仍未发现转载，已记入延误记录。请立即发布到 "
                    f"{self.options.column_url}。\n可复制的正文：{copy_url}\n已转载，填写链接：{done_url}")
            targets = [("信息员", self.options.informant)]
            if self.options.responsible is not None:
                targets.append(("负责人", self.options.responsible))
        done: list[str] = []
        failed: list[str] = []
        for role, contact in targets:
            try:
                sent, errors = await send_all(notifiers_for(contact, self.account, self.ctx, self.reach), head, body)
            except PermanentError as exc:
                sent, errors = [], [exc]
            done += [f"{role}（{w}）" for w in sent]
            failed += [f"{role}：{e.reason}" for e in errors]
        if done:
            await self.ctx.kv.put(mark, now.isoformat(), KEEP_S)
        verb = "提醒" if kind == "at_risk" else "超时提醒并上报负责人"
        text = f"投递 #{d.id}《{title}》{verb}：" + ("已发送给" + "、".join(done) if done else "未能发送")
        if failed:
            text += "；失败：" + "；".join(failed)
        if kind == "overdue" and self.options.responsible is None:
            text += "；未配置负责人，未上报"
        return text


def _none_accepted(errors: list[Any]) -> Exception:
    """No way took the notice: retry while any failure may pass (rate limit, outage), else a person must act."""
    if not errors:
        return PermanentError("未配置信息员联系方式", "no notifier for the informant")
    reason = "通知信息员失败：" + "；".join(e.reason for e in errors)
    detail = "; ".join(e.detail or e.reason for e in errors)
    if any(isinstance(e, RetryLater) for e in errors):
        waits = [e.retry_after for e in errors if isinstance(e, RetryLater) and e.retry_after]
        return RetryLater(reason, detail, retry_after=min(waits) if waits else None)
    return PermanentError(reason, detail)


def _contacts(options: ManualOptions) -> list[Contact]:
    return [options.informant, *([options.responsible] if options.responsible else [])]


def _fetch_reason(exc: FetchError) -> str:
    return f"HTTP {exc.status}" if exc.status else "连接失败或超时"
