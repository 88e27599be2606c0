"""Settings: one TOML file (plus source preset files it names), validated by pydantic.

Secrets are referenced, never written inline: ``"${NAME}"`` takes NAME from the environment,
then from the secrets file named in ``[hub] secrets_file``. Every error names the file, the
field path (with the id of the unit/source/account it sits in) and what is wrong; secret values
never appear in messages.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from channels.base import AccountConfig
from channels.notify.email import SmtpSettings
from channels.notify.robots import DINGTALK_BASE, WECOM_BASE
from channels.registry import channel_class
from channels.wechat.notify import DEFAULT_TEMPLATE_FIELDS, mask_openid
from core.clock import SHANGHAI
from core.fetch import normalise_charset
from feeds.html_list import check_html_spec
from feeds.specs import ArticleSpec, HtmlListSpec, JsonListSpec, RuleSpec
from syndicator.content_limits import LimitSettings
from syndicator.deadlines import DeadlineSettings
from syndicator.passwords import parse_hash
from syndicator.platform_checks import check_platform_rules
from syndicator.redact import register_secrets
from syndicator.roles import Role
from syndicator.web_auth import check_api_key_hash, check_network

_SECRET_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")

_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _check_name(name: str) -> str:
    if not _USERNAME.match(name):
        raise ValueError("user names are 1-64 letters, digits, _ . @ -")
    return name


def _check_hash(value: SecretStr) -> SecretStr:
    parse_hash(value.get_secret_value())
    return value


class DashboardUser(BaseModel):
    """One login: ``{ password_hash = "...", role = "operator" }``; a bare hash string means an admin."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    password_hash: Annotated[SecretStr, AfterValidator(_check_hash)]
    role: Role = "admin"


def _bare_hash_is_admin(value: Any) -> Any:
    """Configs written before roles existed map a name to a hash string: that user stays an admin."""
    if isinstance(value, str | SecretStr):
        return {"password_hash": value, "role": "admin"}
    return value


class DashboardSettings(BaseModel):
    """``[dashboard]`` in the config file; ``users`` maps a login name to a password hash, or to a table
    ``{ password_hash = ..., role = "admin" | "operator" | "inspector" }`` (syndicator.roles)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)    # errors never echo a hash
    enabled: bool = True
    users: dict[Annotated[str, AfterValidator(_check_name)],
                Annotated[DashboardUser, BeforeValidator(_bare_hash_is_admin)]] = {}
    session_hours: float = Field(12, gt=0, le=24 * 31)
    secure_cookies: bool = False          # True behind HTTPS: cookies get Secure and the __Host- prefix


class ConsoleSettings(BaseModel):
    """``[console]`` in the settings file."""

    model_config = ConfigDict(extra="forbid")

    admins: list[str] = []                      # OpenIDs (on the console account) allowed to use commands
    account: str | None = None                  # the WeChat account id that is the console; None: any
    alert_template_id: str | None = None        # template message for pushes outside the 48 h window
    # template key → value with {message}, {time} (Beijing), {count}; keys must match the chosen template
    alert_template_fields: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TEMPLATE_FIELDS))
    push_alerts: bool = True
    # OpenID → "admin" | "operator" | "inspector" (syndicator.roles); an admin not listed here is an admin
    roles: dict[str, Role] = {}

    @model_validator(mode="after")
    def _roles_name_admins(self) -> ConsoleSettings:
        strangers = [openid for openid in self.roles if openid not in self.admins]
        if strangers:
            raise ValueError(f"roles: {', '.join(mask_openid(o) for o in strangers)} not listed in console.admins "
                             "(a role only narrows what an admin may do)")
        return self

    def role(self, openid: str) -> Role:
        return self.roles.get(openid, "admin")



class ConfigError(Exception):
    """A configuration problem; ``str()`` is the operator-readable list of what is wrong."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


class SettingsProblems(ValueError):
    """Cross-field problems found by a validator, each already naming its field (``units[1].accounts[0].id``):
    the loader lists them one by one instead of pydantic's single "(top level): Value error, …"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def plain_message(msg: str) -> str:
    """A pydantic message without its "Value error, " prefix."""
    for prefix in _PYDANTIC_PREFIXES:
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def _error_lines(exc: ValidationError, describe: Any = None) -> list[str]:
    """One line per error: the field path (``describe(loc)``) and the plain message; a SettingsProblems error
    contributes its own lines."""
    lines: list[str] = []
    for err in exc.errors(include_input=False):
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, SettingsProblems):
            lines.extend(cause.problems)
            continue
        loc = tuple(err["loc"])
        where = describe(loc) if describe is not None else ".".join(map(str, loc))
        lines.append(f"{where}: {plain_message(err['msg'])}" if loc else plain_message(err["msg"]))
    return lines


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


OUTCOME_ALLOWANCE_S = 5.0    # recording one outcome (a group commit) takes well under this


class HubSettings(_Model):
    instance_id: str = "hub-1"                 # names this process in claims and leases
    data_dir: str = "var"                      # relative to the config file's directory
    secrets_file: str | None = None
    workers: int = Field(32, ge=1, le=1024)    # deliveries in flight at once, all accounts
    tick_seconds: float = Field(1.0, gt=0)     # how often the dispatcher looks for due work
    retry_base_seconds: float = Field(30, gt=0)
    retry_cap_seconds: float = Field(3600, gt=0)
    max_attempts: int = Field(30, ge=1)        # transient failures before a person is asked
    confirm_interval_seconds: float = Field(30, gt=0)
    stale_claim_seconds: float = Field(600, gt=0)   # another hub's 'sending' older than this is orphaned
    send_timeout_seconds: float = Field(60, gt=0)   # one platform call: the lookup and the publish together
    heartbeat_seconds: float = Field(5, gt=0)       # each hub writes its heartbeat this often
    heartbeat_timeout_seconds: float = Field(20, gt=0)  # no heartbeat for this long: the hub is dead, take over
    stale_check_seconds: float | None = Field(None, gt=0)   # default: see stale_check_interval

    @model_validator(mode="after")
    def _stale_after_timeout(self) -> HubSettings:
        # A claimed delivery may wait for one send before its own starts, then make its own (lookup and
        # publish share send_timeout_seconds), then record its outcome (see syndicator.dispatch).
        if self.stale_claim_seconds <= 2 * self.send_timeout_seconds + OUTCOME_ALLOWANCE_S:
            raise ValueError(f"stale_claim_seconds must be longer than twice send_timeout_seconds plus "
                             f"{OUTCOME_ALLOWANCE_S:g} s to record the outcome (a claimed delivery still waiting, "
                             "in flight or being recorded must never look abandoned)")
        if self.heartbeat_timeout_seconds <= 2 * self.heartbeat_seconds:
            raise ValueError("heartbeat_timeout_seconds must be longer than twice heartbeat_seconds "
                             "(one late heartbeat must not make a live hub look dead)")
        return self

    @property
    def stale_check_interval(self) -> float:
        """How often stale claims and dead hubs are looked for: stale_claim_seconds / 20, at least 1 s and at
        most heartbeat_seconds, so a claim is taken over within 5 % of its window after going stale and a dead
        hub's claims within heartbeat_seconds of its heartbeat expiring."""
        if self.stale_check_seconds is not None:
            return self.stale_check_seconds
        return min(max(self.stale_claim_seconds / 20, 1.0), self.heartbeat_seconds)


class StorageSettings(_Model):
    url: str = "sqlite:///var/syndicator.db"   # or postgresql://user@host:5432/db

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return v


class HostPolitenessSettings(_Model):
    """One upstream host's limits, overriding [fetch] per_host_concurrency / min_gap_seconds."""
    concurrency: int | None = Field(None, ge=1)
    min_gap_seconds: float | None = Field(None, ge=0)


class FetchSettings(_Model):
    user_agent: str = "syndicator/0.1 (+government reprint monitor)"
    timeout_seconds: float = Field(20, gt=0)
    max_bytes: int = Field(5_000_000, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    per_host_concurrency: int = Field(2, ge=1)
    backoff_cap_seconds: float = Field(3600, gt=0)
    alert_after_seconds: float = Field(3 * 3600, gt=0)   # a source failing this long raises an alert
    # A source that never yields an item within its first N successful polls (or drops to none after
    # having items) goes to the "empty" health state with an alert (syndicator.source_empty).
    empty_after_polls: int = Field(3, ge=1)
    # Scale (see syndicator.poll_schedule): politeness per host, how many polls run or wait at once,
    # and over how long a burst of due sources (start-up, a new batch) is spread.
    min_gap_seconds: float = Field(0, ge=0)              # between two request starts to one host
    hosts: dict[str, HostPolitenessSettings] = {}        # per-host overrides, keyed by host name
    polls_in_flight: int = Field(64, ge=1)               # all hosts together
    spread_seconds: float = Field(300, ge=0)             # at most one interval

    def politeness(self, host: str) -> tuple[int, float]:
        """(requests in flight, seconds between request starts) for ``host``."""
        own = self.hosts.get(host.lower())
        concurrency = own.concurrency if own and own.concurrency else self.per_host_concurrency
        gap = own.min_gap_seconds if own and own.min_gap_seconds is not None else self.min_gap_seconds
        return concurrency, gap


class WebSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = ""                      # how platforms reach us (WeChat callbacks)
    # /api/* and /metrics: bearer keys, stored hashed (main.py hash-api-key); none: loopback only
    api_keys: list[Annotated[str, AfterValidator(check_api_key_hash)]] = []
    # reverse proxies (addresses or CIDR) whose X-Forwarded-For names the client; no one else's is believed
    trusted_proxies: list[Annotated[str, AfterValidator(check_network)]] = []


class SourceSettings(_Model):
    id: str
    name: str
    authority: str = ""
    origin: str = ""
    kind: Literal["rss", "atom", "html", "json"]
    url: str
    interval: float = Field(300, ge=5)
    fetch: Literal["http", "browser"] = "http"
    encoding: str | None = None
    headers: dict[str, str] = {}               # extra request headers (e.g. a site that wants a browser User-Agent)
    live_check: str | None = None
    html: HtmlListSpec | None = None
    json_list: JsonListSpec | None = Field(None, alias="json")
    article: ArticleSpec | None = None
    rules: list[RuleSpec] = [RuleSpec()]
    units: list[str] = ["*"]                   # which units must reprint; "*" = all
    # Fields set here layer over [deadlines] (Settings.deadlines_for). Kept raw and validated only once
    # merged: alone, office_start = "17:45" fails against the default office_end although it may hold.
    deadline: dict[str, Any] | None = None
    max_bytes: int | None = None
    enabled: bool = True
    # When the hub started answering for this source (set when a source is added to a running duty): items
    # published earlier are baselines, not assessed. Unset: the source's first successful poll.
    tracking_starts_at: datetime | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("tracking_starts_at")
    @classmethod
    def _aware_start(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=SHANGHAI) if v is not None and v.tzinfo is None else v

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        if v is not None and normalise_charset(v) is None:
            raise ValueError(f"unknown or unusable text encoding {v!r} (e.g. utf-8, gbk, gb2312, gb18030)")
        return v

    @model_validator(mode="after")
    def _kind_spec(self) -> SourceSettings:
        if self.kind == "html" and self.html is None:
            raise ValueError("kind = 'html' needs an [html] table (item, link, title, date selectors)")
        if self.html is not None:
            check_html_spec(self.html)
        if self.kind == "json" and self.json_list is None:
            raise ValueError("kind = 'json' needs a [json] table (list_path, title, url, date)")
        return self


class UnitSettings(_Model):
    id: str
    name: str
    accounts: list[AccountConfig] = []
    resend_updates: bool = False               # re-send an item when its title or body changes upstream
    # When an article body fails its plausibility check: reprint as a link only (the notice allows
    # 转载 or 链接) instead of holding the unit's deliveries for a person.
    link_only_on_bad_body: bool = False


ALERT_CATEGORIES = ("overdue", "at_risk", "account", "delivery", "source", "calendar", "system")


class PersonSettings(_Model):
    """Someone who hears alerts outside the WeChat console: by e-mail and/or a WeCom or DingTalk group robot."""

    name: str
    email: str = ""
    wecom_key: SecretStr = SecretStr("")       # "${NAME}": the key in the robot's webhook URL
    dingtalk_token: SecretStr = SecretStr("")  # "${NAME}": access_token of the robot's webhook URL
    dingtalk_secret: SecretStr = SecretStr("")  # "${NAME}": the robot's 加签 secret (SEC…), when signing is on
    categories: list[Literal[ALERT_CATEGORIES]] = []   # type: ignore[valid-type]  # empty: every category
    units: list[str] = []                      # only alerts about these units (and hub-wide ones); empty: all
    daily_summary: bool = True                 # the morning summary of what is due today and what is late


class NotifySettings(_Model):
    smtp: SmtpSettings | None = None
    people: list[PersonSettings] = []
    daily_summary_at: str = Field("08:30", pattern=r"^(|([01]\d|2[0-3]):[0-5]\d)$")   # Beijing time; "" = off
    wecom_base_url: str = WECOM_BASE           # the sandbox's in the demo
    dingtalk_base_url: str = DINGTALK_BASE


class VerifySettings(_Model):
    """Live verification (核验, syndicator.verify): its own budget, apart from the send workers."""

    enabled: bool = True                       # false: nothing is checked, deliveries stay "仅发送"
    concurrency: int = Field(8, ge=1, le=256)  # checks in flight at once, all hosts (never takes a send slot)
    per_host: int = Field(2, ge=1, le=64)      # checks in flight per public host (a unit's site, weibo.com …)
    tick_seconds: float = Field(5.0, gt=0)     # how often due checks are looked for
    # seconds between checks of a reprint not yet seen: the first right after delivery, then these, then the last
    # one repeated until the deadline (1, 5, 15, 60 min, then hourly)
    schedule: list[float] = [60, 300, 900, 3600]
    recheck_days: int = Field(7, ge=0, le=365)   # a verified reprint is re-checked daily for this many days
    grace_minutes: float = Field(60, ge=0)    # an unchecked reprint this long past its deadline counts not visible
    browser_hosts: list[str] = []             # public hosts behind a JavaScript bot gate: read with Chromium

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("schedule needs at least one interval (seconds)")
        if any(x <= 0 for x in v):
            raise ValueError("every schedule interval must be more than 0 seconds")
        return v


class Settings(_Model):
    hub: HubSettings = HubSettings()
    verify: VerifySettings = VerifySettings()
    storage: StorageSettings = StorageSettings()
    fetch: FetchSettings = FetchSettings()
    web: WebSettings = WebSettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    console: ConsoleSettings = ConsoleSettings()
    dashboard: DashboardSettings = DashboardSettings()
    limits: LimitSettings = LimitSettings()     # per-field length caps (syndicator.content_limits)
    notify: NotifySettings = NotifySettings()
    calendar_dir: str = "calendar"             # override files, relative to the config file
    source_files: list[str] = []               # preset files with more [[sources]]
    sources: list[SourceSettings] = []
    units: list[UnitSettings] = []
    base_dir: Path = Path(".")                 # set by the loader: the config file's directory
    _deadlines_by_source: dict[str, DeadlineSettings] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_and_known(self) -> Settings:
        problems: list[str] = []
        self._deadlines_by_source = {}
        for i, s in enumerate(self.sources):
            if s.deadline is None:
                continue
            try:
                self._deadlines_by_source[s.id] = merge_deadlines(self.deadlines, s.deadline)
            except ValidationError as exc:
                where = f"sources[{i}](id={s.id}).deadline"
                problems += [f"{where}{''.join('.' + str(k) for k in e['loc'])}: {plain_message(e['msg'])}"
                             " (merged over [deadlines])" for e in exc.errors(include_input=False)]
        problems += _duplicate_ids(self)
        wechat = [a.id for u in self.units for a in u.accounts if a.kind == "wechat"]
        if self.console.account is not None and self.console.account not in wechat:
            problems.append(f"console.account: {self.console.account!r} is not a configured wechat account")
        problems.extend(_console_safe_mode(self))
        if self.console.admins and self.console.push_alerts and self.console.account is None and len(wechat) > 1:
            problems.append("console.account: name the WeChat account the admins follow (OpenIDs belong to one "
                            "official account; alerts are pushed through it)")
        unit_ids = {u.id for u in self.units}
        for i, p in enumerate(self.notify.people):
            where = f"notify.people[{i}](name={p.name})"
            if not (p.email or p.wecom_key.get_secret_value() or p.dingtalk_token.get_secret_value()):
                problems.append(f"{where}: give at least one of email, wecom_key, dingtalk_token")
            if p.email and self.notify.smtp is None:
                problems.append(f"{where}.email: e-mail needs the mail server in [notify.smtp]")
            unknown = [u for u in p.units if u not in unit_ids]
            if unknown:
                problems.append(f"{where}.units: unknown unit(s) {', '.join(unknown)}")
        for s in self.sources:
            unknown = [u for u in s.units if u != "*" and u not in unit_ids]
            if unknown:
                problems.append(f"source {s.id}: units lists unknown unit(s) {', '.join(unknown)}")
        if problems:
            raise SettingsProblems(problems)
        return self

    def deadlines_for(self, source_id: str | None) -> DeadlineSettings:
        """The deadline settings in force for a source: its own ``[sources.deadline]`` fields over
        ``[deadlines]``. Intake, the delay monitor, the report and recomputation all ask here."""
        return self._deadlines_by_source.get(source_id or "", self.deadlines)

    def max_at_risk_hours(self) -> float:
        """The widest at-risk window of any source: how far ahead the delay monitor must look."""
        return max([self.deadlines.at_risk_hours, *(d.at_risk_hours for d in self._deadlines_by_source.values())])

    def path(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.base_dir / p

    def storage_url(self) -> str:
        url = self.storage.url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return "sqlite:///" + str(self.path(url.removeprefix("sqlite:///")))
        return url

    def accounts(self) -> list[tuple[UnitSettings, AccountConfig]]:
        return [(u, a) for u in self.units for a in u.accounts if a.enabled]

    def units_for(self, source: SourceSettings) -> list[UnitSettings]:
        return self.units if "*" in source.units else [u for u in self.units if u.id in source.units]


def _duplicate_ids(settings: Settings) -> list[str]:
    """Each repeated id, at the field of every repeat after the first (linear: a province has 40,000 accounts)."""
    fields: list[tuple[str, str, str]] = [("source", f"sources[{i}].id", s.id) for i, s in enumerate(settings.sources)]
    fields += [("unit", f"units[{i}].id", u.id) for i, u in enumerate(settings.units)]
    fields += [("account", f"units[{i}].accounts[{j}].id", a.id)
               for i, u in enumerate(settings.units) for j, a in enumerate(u.accounts)]
    first: dict[tuple[str, str], str] = {}
    problems = []
    for what, where, ident in fields:
        earlier = first.setdefault((what, ident), where)
        if earlier != where:
            problems.append(f"{where}: duplicate {what} id {ident!r} (already used at {earlier}); ids must be unique")
    return problems
def _console_safe_mode(settings: Settings) -> list[str]:
    """The console acts on what admins send; in plain mode WeChat's signature does not cover the body, so
    a captured callback URL could carry any command. Console accounts must be in safe mode."""
    if not settings.console.admins:
        return []
    wechat = [a for u in settings.units for a in u.accounts if a.kind == "wechat"]
    console = [a for a in wechat if settings.console.account in (None, a.id)]
    return [f"console: account {a.id!r} takes admin commands but has no credentials.encoding_aes_key; set the "
            "account to safe mode (安全模式) in the MP console and give its EncodingAESKey (plain mode does not "
            "sign the message body, so anyone holding one callback URL could send commands)"
            for a in console if "encoding_aes_key" not in a.credentials]


def merge_deadlines(base: DeadlineSettings, source: dict[str, Any]) -> DeadlineSettings:
    """Only the fields a source set replace the global ones; the result is validated as a whole, and
    only then (office_start < office_end may hold only after the merge)."""
    return DeadlineSettings.model_validate({**base.model_dump(), **source})


def _describe_loc(data: Any, loc: tuple[Any, ...]) -> str:
    """``units[2](id=fgw).accounts[0](id=fgw-weibo).options`` from a pydantic error location."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int) and parts:
            parts[-1] += f"[{key}]"
            node = node[key] if isinstance(node, list) and key < len(node) else None
            if isinstance(node, dict) and "id" in node:
                parts[-1] += f"(id={node['id']})"
            continue
        parts.append(str(key))
        node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def _resolve_secrets(data: dict[str, Any], secrets: dict[str, str], problems: list[str]) -> None:
    for ui, unit in enumerate(data.get("units") or []):
        for ai, account in enumerate(unit.get("accounts") or [] if isinstance(unit, dict) else []):
            creds = account.get("credentials") if isinstance(account, dict) else None
            if not isinstance(creds, dict):
                continue
            for name, value in creds.items():
                where = f"units[{ui}](id={unit.get('id')}).accounts[{ai}](id={account.get('id')}).credentials.{name}"
                if not isinstance(value, str):
                    problems.append(f"{where}: must be a string reference like \"${{NAME}}\"")
                    continue
                m = _SECRET_REF.match(value)
                if not m:
                    problems.append(f"{where}: write secrets as references (\"${{NAME}}\"), not inline values")
                    continue
                resolved = os.environ.get(m.group(1), secrets.get(m.group(1)))
                if resolved is None:
                    problems.append(f"{where}: ${{{m.group(1)}}} is set neither in the environment"
                                    " nor in the secrets file")
                else:
                    creds[name] = resolved


_NOTIFY_SECRETS = ("wecom_key", "dingtalk_token", "dingtalk_secret")


def _resolve_notify_secrets(data: dict[str, Any], secrets: dict[str, str], problems: list[str]) -> None:
    """Robot keys and the mail password are secrets: references only, resolved like channel credentials."""
    notify = data.get("notify")
    if not isinstance(notify, dict):
        return
    fields: list[tuple[dict[str, Any], str, str]] = []
    smtp = notify.get("smtp")
    if isinstance(smtp, dict) and smtp.get("password"):
        fields.append((smtp, "password", "notify.smtp.password"))
    for i, person in enumerate(notify.get("people") or []):
        if isinstance(person, dict):
            fields += [(person, name, f"notify.people[{i}](name={person.get('name')}).{name}")
                       for name in _NOTIFY_SECRETS if person.get(name)]
    for holder, name, where in fields:
        m = _SECRET_REF.match(str(holder[name]))
        if not m:
            problems.append(f"{where}: write secrets as references (\"${{NAME}}\"), not inline values")
            continue
        resolved = os.environ.get(m.group(1), secrets.get(m.group(1)))
        if resolved is None:
            problems.append(f"{where}: ${{{m.group(1)}}} is set neither in the environment nor in the secrets file")
        else:
            holder[name] = resolved
            register_secrets([resolved])
_REF_IN_TEXT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _resolve_source_refs(data: dict[str, Any], secrets: dict[str, str], problems: list[str]) -> None:
    """``${NAME}`` inside a source's ``url`` and ``headers`` values (an authenticated upstream: a token in the
    query, a user:password, an Authorization header); resolved values are registered for redaction."""
    for si, source in enumerate(data.get("sources") or []):
        if not isinstance(source, dict):
            continue
        headers = source.get("headers") if isinstance(source.get("headers"), dict) else {}
        fields = [("url", source, "url")] + [(f"headers.{k}", headers, k) for k in headers]
        for where, holder, key in fields:
            value = holder.get(key)
            if isinstance(value, str) and "${" in value:
                holder[key] = _substitute(value, secrets, problems, f"sources[{si}](id={source.get('id')}).{where}")


def _substitute(value: str, secrets: dict[str, str], problems: list[str], where: str) -> str:
    def lookup(m: re.Match[str]) -> str:
        resolved = os.environ.get(m.group(1), secrets.get(m.group(1)))
        if resolved is None:
            problems.append(f"{where}: ${{{m.group(1)}}} is set neither in the environment nor in the secrets file")
            return m.group(0)
        register_secrets([resolved])
        return resolved

    return _REF_IN_TEXT.sub(lookup, value)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None


def _read_named(base: Path, rel: Any, field: str, problems: list[str]) -> dict[str, Any]:
    """A TOML file another setting names; a problem with it names that setting (``hub.secrets_file``,
    ``source_files[2]``) and the file, in plain words. The contents of a secrets file never appear."""
    if not isinstance(rel, str) or not rel.strip():
        problems.append(f"{field}: must be a file name (a string), got {type(rel).__name__}")
        return {}
    try:
        return _read_toml(base / rel)
    except ConfigError as exc:
        reason = "; ".join(exc.problems)
        if field == "hub.secrets_file" and reason.startswith("not valid TOML"):
            reason = "not valid TOML (write one NAME = \"value\" per line)"
        problems.append(f"{field}: {rel!r} ({exc.path}): {reason}")
        return {}


def _source_origin(origins: list[str], loc: tuple[Any, ...]) -> str:
    """For a source read from a preset file: which file and which entry in it, before the merged path."""
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int) and loc[1] < len(origins):
        return origins[loc[1]]
    return ""


def load_settings(path: str | Path) -> Settings:
    """Read, resolve and validate a config file; raise ConfigError listing every problem."""
    path = Path(path)
    data = _read_toml(path)
    base = path.resolve().parent
    problems: list[str] = []
    origins: list[str] = [""] * len(data.get("sources") or [])   # per source: the preset file it came from
    for i, rel in enumerate(data.get("source_files", [])):
        extra = _read_named(base, rel, f"source_files[{i}]", problems)
        data.setdefault("sources", []).extend(extra.get("sources", []))
        origins += [f"source_files[{i}] {rel!r}: sources[{j}] → " for j in range(len(extra.get("sources", [])))]
    secrets: dict[str, str] = {}
    secrets_file = (data.get("hub") or {}).get("secrets_file")
    if secrets_file:
        secrets = {k: str(v) for k, v in _read_named(base, secrets_file, "hub.secrets_file", problems).items()}
    _resolve_secrets(data, secrets, problems)
    _resolve_notify_secrets(data, secrets, problems)
    _resolve_source_refs(data, secrets, problems)
    if problems:
        raise ConfigError(path, problems)
    data["base_dir"] = base
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, _error_lines(exc, lambda loc: _source_origin(origins, loc) + _describe_loc(data, loc))
                          ) from None
    problems.extend(_check_channel_options(settings))
    if not problems:
        problems.extend(check_platform_rules([(u.id, u.name, u.accounts) for u in settings.units]))
    if problems:
        raise ConfigError(path, problems)
    register_secrets(v.get_secret_value() for _u, a in settings.accounts() for v in a.credentials.values())
    return settings


def _check_channel_options(settings: Settings) -> list[str]:
    """Each account's options validated by its channel's own Options model."""
    problems = []
    for ui, unit in enumerate(settings.units):
        for ai, account in enumerate(unit.accounts):
            where = f"units[{ui}](id={unit.id}).accounts[{ai}](id={account.id})"
            try:
                cls = channel_class(account.kind)
            except (KeyError, ImportError) as exc:
                problems.append(f"{where}.kind: {exc}")
                continue
            try:
                options = cls.Options.model_validate(account.options)
            except ValidationError as exc:
                problems.extend(f"{where}.options.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                for e in exc.errors(include_input=False))
                continue
            more = getattr(cls, "config_problems", None)     # checks that need more than the options themselves
            if more is not None:
                problems.extend(f"{where}.{p}" for p in more(account, options, settings))
    return problems
