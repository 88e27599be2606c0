"""Compact JSON request bodies, with the part every unit shares encoded once.

One item goes to every unit's account: 10,000 webhook or CMS bodies whose item part (a body of
kilobytes, escaped) is identical and only the key, unit and time differ. ``Members`` holds an
object's members already encoded, so a body is spliced from it in the same bytes ``json.dumps``
with compact separators would give (signatures are over those bytes).
"""

from __future__ import annotations

import json
from typing import Any


class Members(str):
    """The inside of an encoded JSON object (``"a":1,"b":2``), ready to splice into another."""


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def members(fields: dict[str, Any]) -> Members:
    return Members(compact_json(fields)[1:-1]) if fields else Members()


def json_object(*parts: dict[str, Any] | Members) -> bytes:
    """One JSON object of these parts' members, in order (UTF-8)."""
    inner = [p if isinstance(p, Members) else members(p) for p in parts]
    return ("{" + ",".join(m for m in inner if m) + "}").encode("utf-8")
