"""Configuration of how each kind of source is read. Validated as part of the settings."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HtmlListSpec(_Spec):
    """A list page: one element per item; link, title and date found inside it."""

    item: str                                 # CSS selector (or XPath when selector_type = "xpath")
    link: str = "a"
    title: str | None = None                  # default: the link's text (or its title attribute)
    date: str | None = None
    selector_type: Literal["css", "xpath"] = "css"
    next_page: str | None = None              # selector of the "next page" link
    pages: int = Field(1, ge=1, le=20)        # pagination depth
    # The list element itself (default: ``item`` without its last step, "ul.list-t li" -> "ul.list-t").
    # Present with no items = an empty list; absent too = the layout changed (a ParseError).
    container: str | None = None


class JsonListSpec(_Spec):
    """A JSON list API: dotted paths (``searchVO.listVO``); an empty list path means the root.

    ``list_paths`` reads several lists of one response in order (the policy library's
    ``searchVO.catMap.<category>.listVO``); each must be present and a list, or the read fails."""

    list_path: str = ""
    list_paths: list[str] = []                # overrides list_path when given
    title: str = "title"
    url: str = "url"
    date: str | None = None
    date_fallback: list[str] = []             # tried in order when ``date`` is missing or null (``ptime`` ms)
    summary: str | None = None                # kept as the entry's summary (checked against the article body)
    guid: str | None = None
    extra: dict[str, str] = {}                # name -> path, kept in Entry.extra

    def paths(self) -> list[str]:
        return self.list_paths or [self.list_path]


class ArticleSpec(_Spec):
    """Fetch each new item's page for its body and real publication time."""

    enabled: bool = True
    title: list[str] = []                     # CSS selectors, first match wins
    body: list[str] = ["div.TRS_UEDITOR", "#UCAP-CONTENT"]
    date_meta: list[str] = ["firstpublishedtime", "PubDate"]
    date: list[str] = []                      # CSS selectors of visible date text
    guid_meta: list[str] = ["manuscriptId"]
    fallback_extractor: bool = True           # main-content extraction when no selector matches
    # Plausibility of every extracted body (feeds.plausibility): shorter than this (text characters),
    # or more than ``max_link_density`` of its text inside links, is not an article. Low by default:
    # real documents can be stubs ("详见附件。", 5 characters); menus are caught by the other checks.
    min_body_chars: int = Field(5, ge=0)
    max_link_density: float = Field(0.5, gt=0, le=1)
    # Known articles are fetched again when their list title/date changes, and otherwise at most
    # one per poll, each no more often than this (a body corrected upstream is an update); 0 = never.
    recheck_hours: float = Field(12, ge=0)


class RuleSpec(_Spec):
    """Which items of a source must be reprinted; the first matching rule is stored with the item."""

    name: str = "all"
    match: Literal["all", "title", "category", "keywords", "regex"] = "all"
    values: list[str] = []                    # substrings / categories / keywords / regexes
    exclude: list[str] = []                   # keywords that veto a match (in the title)

    @model_validator(mode="after")
    def _values_needed(self) -> RuleSpec:
        if self.match != "all" and not self.values:
            raise ValueError(f"rule {self.name!r}: match = {self.match!r} needs at least one value")
        if self.match == "regex":
            import re

            for pattern in self.values:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"rule {self.name!r}: bad regex {pattern!r}: {exc}") from None
        return self


class SourceSpec(Protocol):
    """What reading one source needs to know about it. The hub's ``SourceSettings`` (the configuration
    file's ``[[sources]]`` table) satisfies it; feeds never import the hub."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> Literal["rss", "atom", "html", "json"]: ...
    @property
    def url(self) -> str: ...
    @property
    def fetch(self) -> Literal["http", "browser"]: ...
    @property
    def encoding(self) -> str | None: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def html(self) -> HtmlListSpec | None: ...
    @property
    def json_list(self) -> JsonListSpec | None: ...
    @property
    def article(self) -> ArticleSpec | None: ...
    @property
    def max_bytes(self) -> int | None: ...
