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
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from channels.base import AccountConfig
from feeds.specs import ArticleSpec, HtmlListSpec, JsonListSpec, RuleSpec
from syndicator.console import ConsoleSettings
from syndicator.dashboard import DashboardSettings
from syndicator.deadlines import DeadlineSettings

_SECRET_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class ConfigError(Exception):
    """A configuration problem; ``str()`` is the operator-readable list of what is wrong."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


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
    send_timeout_seconds: float = Field(60, gt=0)

    @model_validator(mode="after")
    def _stale_after_timeout(self) -> HubSettings:
        # A claimed delivery may wait for one send before its own starts (see syndicator.dispatch).
        if self.stale_claim_seconds <= 2 * self.send_timeout_seconds:
            raise ValueError("stale_claim_seconds must be longer than twice send_timeout_seconds "
                             "(a claimed delivery still waiting or in flight must never look abandoned)")
        return self


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

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        from feeds.fetch import normalise_charset

        if v is not None and normalise_charset(v) is None:
            raise ValueError(f"unknown or unusable text encoding {v!r} (e.g. utf-8, gbk, gb2312, gb18030)")
        return v

    @model_validator(mode="after")
    def _kind_spec(self) -> SourceSettings:
        if self.kind == "html" and self.html is None:
            raise ValueError("kind = 'html' needs an [html] table (item, link, title, date selectors)")
        if self.html is not None:
            from feeds.html_list import check_html_spec

            check_html_spec(self.html)
        if self.kind == "json" and self.json_list is None:
            raise ValueError("kind = 'json' needs a [json] table (list_path, title, url, date)")
        return self


class UnitSettings(_Model):
    id: str
    name: str
    accounts: list[AccountConfig] = []
    resend_updates: bool = False               # re-send an item when its title or body changes upstream


class Settings(_Model):
    hub: HubSettings = HubSettings()
    storage: StorageSettings = StorageSettings()
    fetch: FetchSettings = FetchSettings()
    web: WebSettings = WebSettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    console: ConsoleSettings = ConsoleSettings()
    dashboard: DashboardSettings = DashboardSettings()
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
        for s in self.sources:
            if s.deadline is None:
                continue
            try:
                self._deadlines_by_source[s.id] = merge_deadlines(self.deadlines, s.deadline)
            except ValidationError as exc:
                problems.append(f"source {s.id}: deadline (merged over [deadlines]): " + "; ".join(
                    ".".join(map(str, e["loc"])) + ": " + e["msg"] if e["loc"] else e["msg"]
                    for e in exc.errors(include_input=False)))
        for what, ids in (("source", [s.id for s in self.sources]), ("unit", [u.id for u in self.units]),
                          ("account", [a.id for u in self.units for a in u.accounts])):
            dupes = sorted(i for i, n in Counter(ids).items() if n > 1)   # linear: a province has 40,000 accounts
            if dupes:
                problems.append(f"duplicate {what} id(s): {', '.join(dupes)}")
        wechat = [a.id for u in self.units for a in u.accounts if a.kind == "wechat"]
        if self.console.account is not None and self.console.account not in wechat:
            problems.append(f"console.account: {self.console.account!r} is not a configured wechat account")
        if self.console.admins and self.console.push_alerts and self.console.account is None and len(wechat) > 1:
            problems.append("console.account: name the WeChat account the admins follow (OpenIDs belong to one "
                            "official account; alerts are pushed through it)")
        unit_ids = {u.id for u in self.units}
        for s in self.sources:
            unknown = [u for u in s.units if u != "*" and u not in unit_ids]
            if unknown:
                problems.append(f"source {s.id}: units lists unknown unit(s) {', '.join(unknown)}")
        if problems:
            raise ValueError("; ".join(problems))
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


def load_settings(path: str | Path) -> Settings:
    """Read, resolve and validate a config file; raise ConfigError listing every problem."""
    path = Path(path)
    data = _read_toml(path)
    base = path.resolve().parent
    problems: list[str] = []
    for rel in data.get("source_files", []):
        preset = base / rel
        extra = _read_toml(preset)
        data.setdefault("sources", []).extend(extra.get("sources", []))
    secrets: dict[str, str] = {}
    secrets_file = (data.get("hub") or {}).get("secrets_file")
    if secrets_file:
        secrets = {k: str(v) for k, v in _read_toml(base / secrets_file).items()}
    _resolve_secrets(data, secrets, problems)
    if problems:
        raise ConfigError(path, problems)
    data["base_dir"] = base
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [
            f"{_describe_loc(data, tuple(err['loc']))}: {err['msg']}" for err in exc.errors(include_input=False)
        ]) from None
    problems.extend(_check_channel_options(settings))
    if problems:
        raise ConfigError(path, problems)
    return settings


def _check_channel_options(settings: Settings) -> list[str]:
    """Each account's options validated by its channel's own Options model."""
    from channels.registry import channel_class

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
                cls.Options.model_validate(account.options)
            except ValidationError as exc:
                problems.extend(f"{where}.options.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                for e in exc.errors(include_input=False))
    return problems
