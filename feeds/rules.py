"""Must-reprint rules: which upstream entries a source requires every unit to reprint."""

from __future__ import annotations

import re
from functools import lru_cache

from feeds.model import Entry
from feeds.specs import RuleSpec


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _hits(rule: RuleSpec, entry: Entry) -> bool:
    if rule.match == "all":
        return True
    if rule.match == "title":
        return any(v in entry.title for v in rule.values)
    if rule.match == "category":
        return any(v in entry.categories for v in rule.values)
    if rule.match == "keywords":
        text = f"{entry.title}\n{entry.summary}"
        return any(v in text for v in rule.values)
    return any(_regex(v).search(entry.title) for v in rule.values)


def required_by(entry: Entry, rules: list[RuleSpec]) -> RuleSpec | None:
    """The first rule that makes this entry required, or None (not to be reprinted)."""
    for rule in rules:
        if any(word in entry.title for word in rule.exclude):
            continue
        if _hits(rule, entry):
            return rule
    return None
