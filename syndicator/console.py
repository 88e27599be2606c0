"""The WeChat admin console: admins text short commands to the official account and get short answers.

Wired as the callback's ``on_text`` (channels/wechat/callback.py), which sends the answer back as the
passive reply within ~4 s. Commands, Chinese or English: 状态/status, 延误/delays, 待办/todo, 重试 N/retry N,
跳过 N 理由/skip N reason, 暂停 账号 [理由]/pause ID [reason], 恢复 账号/resume ID, 确认日历 YEAR/confirm
calendar YEAR (adopt the draft made of the State Council's holiday notice), 帮助/help. Full-width
letters, digits, spaces and punctuation are folded for parsing; reasons are recorded as typed.

Who gets an answer: only OpenIDs in ``admins``, and only on the console account when ``account`` is set.
Anyone else gets no answer at all (``None``: the callback answers "success" and WeChat shows nothing): the
account is a public government account, followers must not be told "您无权使用管理命令" for an ordinary
"帮助", and the console's existence is not advertised. Such commands are logged with a masked OpenID.

Replies are plain Simplified Chinese, at most ``MAX_REPLY_BYTES``: WeChat documents no limit for a passive
text reply, but community tests find 2047–2048 UTF-8 bytes (github.com/dodgepudding/wechat-php-sdk/issues/363,
github.com/MamaShip/Observer/issues/77; longer replies show "该公众号提供的服务出现故障"), so we cut at
2000 bytes on a character boundary. Actions go through ``Operations`` (audited) with the actor
"微信管理员 …abcd" — the last four characters of the OpenID only, in replies and logs alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from channels.wechat.notify import clip_bytes, mask_openid
from core.clock import Clock
from core.models import ATTENTION_STATES
from syndicator.config import ConsoleSettings
from syndicator.labels import (
    account_state_label,
    delay_kind_label,
    hours_text,
    local_text,
    shown_state_label,
    state_label,
)
from syndicator.manual_desk import ManualDesk
from syndicator.operations import Operations, Outcome
from syndicator.roles import ROLE_LABELS, Role, allows, refusal

log = logging.getLogger(__name__)
StatusSource = Callable[[], Awaitable[Mapping[str, Any]]]
MAX_REPLY_BYTES = 2000
TOP = 5
DELAY_WINDOW = timedelta(hours=24)
ALIASES = {"状态": "status", "status": "status", "延误": "delays", "delays": "delays", "delay": "delays",
           "待办": "todo", "todo": "todo", "重试": "retry", "retry": "retry", "跳过": "skip", "skip": "skip",
           "暂停": "pause", "pause": "pause", "恢复": "resume", "resume": "resume", "帮助": "help", "help": "help",
           "?": "help", "确认日历": "calendar_confirm", "confirm calendar": "calendar_confirm",
           "已转载": "reported", "reported": "reported"}
_WORDS = sorted(ALIASES, key=len, reverse=True)
_STRIP = " \t\r\n,:;、。"
_SEP = r"[\s,:;、。]+"
_IDS = re.compile(rf"^(?:#?\d+(?:{_SEP}|$))+$")
_SKIP = re.compile(rf"^#?(\d+)(?:{_SEP})?(.*)$", re.DOTALL)
_REPORT = re.compile(r"^#?(\d+)[\s,:;，：；、。]+(https?://\S+)$", re.IGNORECASE)
_ACCOUNT = re.compile(rf"^(\S+?)(?:{_SEP}(.*))?$", re.DOTALL)
HELP = ("管理命令：\n状态 — 总体情况\n延误 — 最近24小时延误记录\n待办 — 截止最早的5条待办\n重试 N — 重新发送投递 #N\n"
        "跳过 N 理由 — 不再发送（理由必填，记入延误记录）\n暂停 账号 [理由] — 暂停渠道账号\n恢复 账号 — 恢复渠道账号\n"
        "确认日历 年份 — 采用据国务院办公厅通知生成的节假日安排草案\n"
        "已转载 N 链接 — 人工转载单位报告投递 #N 已发布（系统打开链接核对标题）\n"
        "英文亦可：status / delays / todo / retry N / skip N reason / pause ID / resume ID / "
        "confirm calendar YEAR / help")
UNKNOWN = "未识别的命令。发送“帮助”查看可用命令。"
FAILED = "命令执行出错，请稍后重试或登录管理后台查看。"


READ_ONLY = {"status", "delays", "todo", "help"}


class Command(NamedTuple):
    name: str
    arg: str        # argument with full-width forms folded (for matching ids and account ids)
    raw: str        # the same characters as typed (for reasons that go on record)
    openid: str = ""  # who sent it (set by Console.answer)


def halfwidth(text: str) -> str:
    """Full-width ASCII forms (ＡＢＣ１２３，？) and the ideographic space folded; one character for one."""
    return "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else " " if c == "\u3000" else c
                   for c in text)


def parse(text: str) -> Command | None:
    """The command in ``text``, or None when it is not one."""
    folded = halfwidth(text)
    body = folded.lstrip()
    start = len(folded) - len(body)
    low = body.lower()
    for word in _WORDS:
        if low.startswith(word):
            rest = body[len(word):]
            if word.isascii() and word != "?" and rest[:1].isalpha():
                continue                          # "statusx" is not "status"; "retry12" is "retry 12"
            arg = rest.strip(_STRIP)
            begin = start + len(word) + (len(rest) - len(rest.lstrip(_STRIP)))
            return Command(ALIASES[word], arg, text[begin:begin + len(arg)])
    return None


def help_for(role: Role) -> str:
    """The help an admin of ``role`` can use: an inspector or operator is not offered what they may not send."""
    if role == "admin":
        return HELP
    lines = HELP.split("\n")
    words = {"重试": "retry", "跳过": "skip", "暂停": "pause", "恢复": "resume", "确认日历": "calendar_confirm"}
    kept = [line for line in lines[1:-1]
            if not any(line.startswith(w) and not allows(role, a) for w, a in words.items())]
    return "\n".join([lines[0], *kept, f"（您的角色：{ROLE_LABELS[role]}）"])


def actor_for(openid: str) -> str:
    return f"微信管理员 {mask_openid(openid)}"


def short(text: str | None, chars: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= chars else flat[:chars - 1] + "…"


def due_text(when: datetime) -> str:
    """'11-26 24:00' in Beijing time (midnight written as the previous day's 24:00)."""
    return local_text(when)[5:]


class Console:
    def __init__(self, ops: Operations, status_source: StatusSource, settings: ConsoleSettings, clock: Clock,
                 manual: ManualDesk | None = None) -> None:
        self.manual = manual            # manual units: their 信息员 may send "已转载 N 链接" (nothing else)
        self.ops = ops
        self.store = ops.store
        self.status_source = status_source
        self.settings = settings
        self.clock = clock

    async def answer(self, account_id: str, openid: str, text: str) -> str | None:
        """The reply for one text message, or None to stay silent (not an admin, not the console account)."""
        if self.settings.account is not None and account_id != self.settings.account:
            return None
        command = parse(text)
        if openid not in self.settings.admins and command is not None and command.name == "reported":
            accounts = self.manual.informants().get(openid) if self.manual is not None else None
            if accounts:
                try:
                    reply = await self._report(command, f"信息员 {mask_openid(openid)}", accounts)
                except Exception:
                    log.exception("console: report by informant %s failed", mask_openid(openid))
                    reply = FAILED
                return clip_bytes(reply.replace("]]>", "]] >"), MAX_REPLY_BYTES)
        if openid not in self.settings.admins:
            if command is not None:
                log.info("console: %s command from non-admin %s on %s ignored", command.name, mask_openid(openid),
                         account_id)
            return None
        if command is None:
            return UNKNOWN
        role = self.settings.role(openid)
        action = "read" if command.name in READ_ONLY else command.name
        if not allows(role, action):
            log.info("console: %s refused to %s (%s)", command.name, mask_openid(openid), role)
            return f"未执行：{refusal(role, action)}"
        try:
            reply = await getattr(self, f"_{command.name}")(command._replace(openid=openid), actor_for(openid))
        except Exception:
            log.exception("console: %s by %s failed", command.name, mask_openid(openid))
            reply = FAILED
        return clip_bytes(reply.replace("]]>", "]] >"), MAX_REPLY_BYTES)

    # -- read-only ---------------------------------------------------------------------------------
    async def _help(self, cmd: Command, actor: str) -> str:
        return help_for(self.settings.role(cmd.openid))

    async def _status(self, cmd: Command, actor: str) -> str:
        st = await self.status_source()
        now = self.clock.now()
        overdue, soon = await self.store.deadline_counts(now, now + timedelta(hours=24))
        counts: Mapping[str, int] = st.get("deliveries", {})
        lines = [f"转载中枢状态（北京时间 {due_text(now)}）",
                 f"未完成 {st.get('open', 0)} 条：已逾期 {overdue}，24小时内到期 {soon}",
                 "，".join(f"{state_label(s)} {counts.get(s, 0)}" for s in ("delivered", "failed", "skipped", "held"))]
        oldest = st.get("oldest_open")
        if oldest:
            due = datetime.fromisoformat(oldest["deadline_at"])
            late = "（已逾期）" if oldest.get("overdue") else ""
            lines.append(f"最早截止：#{oldest['id']} {oldest['account']} {due_text(due)}{late}")
        blocked = st.get("accounts_blocked") or {}
        if blocked:
            lines.append("账号异常：" + "；".join(
                f"{a} {account_state_label(b['state'])}" for a, b in sorted(blocked.items())))
        failing = [s for s in st.get("sources", []) if s.get("consecutive_errors")]
        if failing:
            lines.append("来源异常：" + "；".join(
                f"{s['source']} 连续失败 {s['consecutive_errors']} 次" for s in failing[:TOP]))
        if st.get("possible_duplicates"):
            lines.append(f"可能重复 {st['possible_duplicates']} 条，请到平台核对")
        lines += [f"日历：{w}" for w in st.get("calendar_warnings", [])]
        if not (overdue or blocked or failing or counts.get("failed")):
            lines.append("未发现异常。")
        lines.append("发送“帮助”查看命令。")
        return "\n".join(lines)

    async def _delays(self, cmd: Command, actor: str) -> str:
        records = await self.store.delays(since=self.clock.now() - DELAY_WINDOW, limit=5000)
        if not records:
            return "最近24小时没有延误记录。"
        latest = records[-TOP:][::-1]
        lines = [f"最近24小时延误记录 {len(records)} 条，最新 {len(latest)} 条："]
        for r in latest:
            late = f" 超时{hours_text(r.late_clock_hours)}小时" if r.late_clock_hours > 0 else ""
            lines.append(f"#{r.delivery_id} {r.account_id} {delay_kind_label(r.kind)}{late}"
                         f"《{short(r.item_title, 16)}》")
            lines.append(f"  {short(r.reason, 60)}")
        return "\n".join(lines)

    async def _todo(self, cmd: Command, actor: str) -> str:
        rows = await self.store.deliveries(states=ATTENTION_STATES, limit=TOP)
        if not rows:
            return "当前没有待办投递。"
        counts = await self.store.state_counts()
        accounts = await self.store.account_states()
        now = self.clock.now()
        total = sum(counts.get(s, 0) for s in ATTENTION_STATES)
        lines = [f"待办 {total} 条（含{state_label('failed')}），截止最早的 {len(rows)} 条（北京时间）："]
        for d in rows:
            item = await self.store.get_item(d.item_id)
            flags = ("（暂定）" if d.deadline_provisional else "") + ("（已逾期）" if d.deadline_at < now else "")
            shown = shown_state_label(d.state, accounts.get(d.account_id, ("active", None))[0])
            lines.append(f"#{d.id} {d.account_id} {shown} "
                         f"截止{due_text(d.deadline_at)}{flags}")
            lines.append(f"  《{short(item.title if item else '', 18)}》")
            if d.last_error:
                lines.append(f"  错误：{short(d.last_error, 50)}")
        lines.append("可回复：重试 N / 跳过 N 理由")
        return "\n".join(lines)

    # -- actions (audited by Operations) ------------------------------------------------------------
    async def _retry(self, cmd: Command, actor: str) -> str:
        if not _IDS.match(cmd.arg):
            return "用法：重试 N（N 为投递编号，可写多个，如：重试 12 13）"
        ids = list(dict.fromkeys(int(n) for n in re.findall(r"\d+", cmd.arg)))[:10]
        outcomes = [await self.ops.retry(i, actor) for i in ids]
        self._log_action("retry", actor, outcomes)
        return "\n".join(_outcome_text(o) for o in outcomes)

    async def _skip(self, cmd: Command, actor: str) -> str:
        match = _SKIP.match(cmd.arg)
        if not match:
            return "用法：跳过 N 理由（理由必填，将记入延误记录），如：跳过 12 已由市政府网站统一转载"
        reason = cmd.raw[match.start(2):].strip()
        if not reason:
            return f"跳过必须填写理由（将记入延误记录），如：跳过 {match.group(1)} 已由市政府网站统一转载"
        outcome = await self.ops.skip(int(match.group(1)), reason, actor)
        self._log_action("skip", actor, [outcome])
        return _outcome_text(outcome)

    async def _pause(self, cmd: Command, actor: str) -> str:
        match = _ACCOUNT.match(cmd.arg)
        if not match:
            return "用法：暂停 账号 [理由]，如：暂停 wx-fgw 公众号改版"
        reason = cmd.raw[match.start(2):].strip() if match.group(2) is not None else ""
        outcome = await self.ops.pause(self._account(match.group(1)), reason, actor)
        self._log_action("pause", actor, [outcome])
        return self._with_accounts(outcome)

    async def _resume(self, cmd: Command, actor: str) -> str:
        match = _ACCOUNT.match(cmd.arg)
        if not match:
            return "用法：恢复 账号，如：恢复 wx-fgw"
        outcome = await self.ops.resume(self._account(match.group(1)), actor)
        self._log_action("resume", actor, [outcome])
        return self._with_accounts(outcome)

    async def _calendar_confirm(self, cmd: Command, actor: str) -> str:
        match = re.fullmatch(r"(\d{4})(?:\s*年)?", cmd.arg)
        if not match:
            return "用法：确认日历 年份，如：确认日历 2027（先在看板核对草案）"
        outcome = await self.ops.confirm_calendar(int(match.group(1)), actor)
        self._log_action("calendar_confirm", actor, [outcome])
        return _outcome_text(outcome)

    async def _reported(self, cmd: Command, actor: str) -> str:
        return await self._report(cmd, actor, None)

    async def _report(self, cmd: Command, actor: str, accounts: set[str] | None) -> str:
        """已转载 N 链接: the hub opens the link and checks the title before anything is marked."""
        if self.manual is None or not self.manual.channels:
            return "没有配置人工转载单位。"
        match = _REPORT.match(cmd.arg.strip())
        if match is None:
            return "格式：已转载 投递编号 转载页面链接，例如“已转载 12 https://www.example.gov.cn/art/1.html”"
        answer = await self.manual.report(int(match.group(1)), match.group(2), actor, accounts=accounts)
        log.info("console: %s reported delivery %s: %s", actor, match.group(1), "ok" if answer.ok else "refused")
        return answer.message

    def _account(self, given: str) -> str:
        """The configured account id, matched case-insensitively (phones capitalise)."""
        known = self.ops.account_ids()
        if given in known:
            return given
        same = [a for a in known if a.lower() == given.lower()]
        return same[0] if len(same) == 1 else given

    def _with_accounts(self, outcome: Outcome) -> str:
        if outcome.ok:
            return _outcome_text(outcome)
        return _outcome_text(outcome) + "\n可用账号：" + "、".join(sorted(self.ops.account_ids()))

    @staticmethod
    def _log_action(name: str, actor: str, outcomes: list[Outcome]) -> None:
        log.info("console: %s by %s: %s", name, actor.split()[-1],
                 ", ".join("ok" if o.ok else "refused" for o in outcomes))


def _outcome_text(outcome: Outcome) -> str:
    return outcome.message if outcome.ok else f"未执行：{outcome.message}"
