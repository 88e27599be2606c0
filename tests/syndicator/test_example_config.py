"""config/example.toml documents every option: each field of every settings and channel Options model
appears as a key (set or commented out) in the part of the file where it belongs."""

from __future__ import annotations

import re
import typing

import pytest
from annotated_types import Ge
from pydantic import BaseModel

from channels.base import AccountConfig
from channels.notify.email import SmtpSettings
from channels.registry import CHANNEL_KINDS, channel_class
from feeds.specs import ArticleSpec, HtmlListSpec, JsonListSpec, RuleSpec
from syndicator.config import (
    ConsoleSettings,
    DashboardSettings,
    DashboardUser,
    FetchSettings,
    HostPolitenessSettings,
    HubSettings,
    NotifySettings,
    PersonSettings,
    Settings,
    SourceSettings,
    StorageSettings,
    UnitSettings,
    VerifySettings,
    WebSettings,
)
from syndicator.content_limits import LimitSettings
from syndicator.deadlines import DeadlineSettings
from tests.paths import ROOT_DIR

EXAMPLE = (ROOT_DIR / "config" / "example.toml").read_text("utf-8")
LINES = EXAMPLE.splitlines()
NOT_OPTIONS = {(Settings, "base_dir")}        # set by the loader (the config file's directory), never read
_HEADER = re.compile(r"^\s*(#\s*)?\[\[?([\w.]+)\]\]?")


def _header(line: str) -> str | None:
    m = _HEADER.match(line)
    return m.group(2) if m and not m.group(1) else None     # only live headers delimit sections


def section(name: str) -> str:
    """The lines under ``[name]`` (or ``[[name]]``) up to the next live table header, all occurrences."""
    out, inside = [], False
    for line in LINES:
        head = _header(line)
        if head is not None:
            inside = head == name
        elif inside:
            out.append(line)
    return "\n".join(out)


def span(start: str, stop: str | None) -> str:
    """From the first ``[[start]]`` to the first ``[[stop]]``: a whole area, sub-tables and comments included."""
    begin = EXAMPLE.index(f"[[{start}]]")
    end = EXAMPLE.index(f"[[{stop}]]", begin) if stop else len(EXAMPLE)
    return EXAMPLE[begin:end]


def account_blocks(kind: str) -> str:
    """Every ``[[units.accounts]]`` block of this kind."""
    blocks = EXAMPLE.split("[[units.accounts]]")[1:]
    found = [b.split("[[units]]")[0] for b in blocks if re.search(rf'^\s*kind = "{kind}"', b, re.MULTILINE)]
    return "\n".join(found)


SOURCES = span("sources", "units")
REGIONS: dict[type[BaseModel], str] = {
    Settings: EXAMPLE,
    HubSettings: section("hub"), StorageSettings: section("storage"), FetchSettings: section("fetch"),
    HostPolitenessSettings: section("fetch"),
    WebSettings: section("web"), LimitSettings: section("limits"), DeadlineSettings: section("deadlines"),
    ConsoleSettings: section("console"), VerifySettings: section("verify"),
    NotifySettings: section("notify"), SmtpSettings: section("notify"), PersonSettings: section("notify"),
    DashboardSettings: section("dashboard") + section("dashboard.users"),
    DashboardUser: section("dashboard") + section("dashboard.users"),
    SourceSettings: SOURCES, HtmlListSpec: SOURCES, JsonListSpec: SOURCES, ArticleSpec: SOURCES, RuleSpec: SOURCES,
    UnitSettings: span("units", None), AccountConfig: span("units", None),
}


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def reachable(root: type[BaseModel]) -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo = [root]
    while todo:
        model = todo.pop()
        if model not in seen:
            seen.add(model)
            todo += [m for f in model.model_fields.values() for m in _models_in(f.annotation)]
    return seen


def documented(key: str, text: str) -> bool:
    """``key = …`` (also inside an inline table or a comment), or a table header ``[… key]``."""
    return bool(re.search(rf"(?<![\w.\"]){re.escape(key)}\s*=", text)
                or re.search(rf"\[\[?([\w]+\.)*{re.escape(key)}\]\]?", text))


def test_every_settings_model_has_a_place_in_the_example() -> None:
    missing = reachable(Settings) - set(REGIONS)
    assert not missing, f"map these models to their part of config/example.toml: {missing}"
    assert all(REGIONS.values()), "a region of config/example.toml came out empty"


@pytest.mark.parametrize("model", sorted(REGIONS, key=lambda m: m.__name__), ids=lambda m: m.__name__)
def test_every_settings_field_is_documented(model: type[BaseModel]) -> None:
    undocumented = [f.alias or name for name, f in model.model_fields.items()
                    if (model, name) not in NOT_OPTIONS and not documented(f.alias or name, REGIONS[model])]
    assert not undocumented, f"{model.__name__}: document {undocumented} in config/example.toml"


@pytest.mark.parametrize("kind", sorted(CHANNEL_KINDS))
def test_every_channel_option_is_documented_on_an_account_of_its_kind(kind: str) -> None:
    block = account_blocks(kind)
    assert block, f"config/example.toml has no [[units.accounts]] with kind = {kind!r}"
    options = channel_class(kind).Options
    undocumented = [f.alias or name for name, f in options.model_fields.items()
                    if not documented(f.alias or name, block)]
    assert not undocumented, f"{kind} ({options.__name__}): document {undocumented} in config/example.toml"


def test_the_rate_limit_minimum_is_the_documented_one() -> None:
    [minimum] = [m.ge for m in AccountConfig.model_fields["rate_per_hour"].metadata if isinstance(m, Ge)]
    assert "rate_per_hour (sends started per rolling hour" in EXAMPLE and f"an integer ≥ {minimum}" in EXAMPLE


def test_the_checker_sees_a_missing_option() -> None:
    """The region helpers are not vacuous: a key only elsewhere in the file does not count."""
    assert documented("lost_submit_wait_s", account_blocks("wechat"))
    assert not documented("lost_submit_wait_s", account_blocks("push"))
    assert not documented("alert_credit", section("hub"))
    assert documented("office_end", section("deadlines")) and not documented("day_end", section("fetch"))
