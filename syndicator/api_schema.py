"""The JSON API's inputs, validated, and its OpenAPI 3.1 document (served at ``/api/openapi.json``).

A bad parameter is the client's mistake: HTTP 400 with ``{"error": ...}``, never a 500 and a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.models import DeliveryState

LIMIT_MIN, LIMIT_MAX, LIMIT_DEFAULT = 1, 5000, 200
STATES = tuple(s.value for s in DeliveryState)


@dataclass(frozen=True, slots=True)
class DeliveriesQuery:
    states: list[str] | None
    account: str | None
    limit: int

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> DeliveriesQuery:
        """Raise ValueError (its text is the API's error message) for anything out of range or unknown."""
        unknown = sorted(set(query) - {"state", "account", "limit"})
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(unknown)}")
        raw_limit = query.get("limit", str(LIMIT_DEFAULT)).strip()
        if not raw_limit.isdigit() or not LIMIT_MIN <= int(raw_limit) <= LIMIT_MAX:
            raise ValueError(f"limit must be a whole number from {LIMIT_MIN} to {LIMIT_MAX}")
        states = [s for s in query.get("state", "").split(",") if s] or None
        bad = [s for s in states or [] if s not in STATES]
        if bad:
            raise ValueError(f"unknown state(s): {', '.join(bad)}; one of {', '.join(STATES)}")
        account = query.get("account") or None
        if account is not None and len(account) > 200:
            raise ValueError("account is too long")
        return cls(states, account, int(raw_limit))


def _error() -> dict[str, Any]:
    return {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_DELIVERY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "item_id": {"type": "integer"}, "unit": {"type": "string"},
        "account": {"type": "string"}, "channel": {"type": "string"}, "state": {"type": "string", "enum": list(STATES)},
        "deadline_at": {"type": "string", "format": "date-time"}, "provisional": {"type": "boolean"},
        "attempts": {"type": "integer"}, "delivered_at": {"type": ["string", "null"], "format": "date-time"},
        "external_url": {"type": ["string", "null"]}, "last_error": {"type": ["string", "null"]},
        "note": {"type": ["string", "null"]}, "possible_duplicate": {"type": "boolean"},
        "verify_state": {"type": ["string", "null"],
                         "enum": ["pending", "verified", "not_visible", "unverifiable", "gone", None],
                         "description": "Live verification on the public page (docs/verification.md); null: not "
                                        "checked (not delivered, or delivered before verification existed)"},
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "syndicator (转载中枢) API", "version": "1",
             "description": "Read-only view of deliveries and hub state. Send an API key as a bearer token; with no "
                            "keys configured the hub answers only on the loopback interface."},
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "a key made with `main.py hash-api-key`"}},
        "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                    "Delivery": _DELIVERY},
    },
    "paths": {
        "/api/status": {"get": {"summary": "counts by state, oldest open delivery, blocked accounts, warnings",
                                "responses": {"200": {"description": "status", "content": {
                                    "application/json": {"schema": {"type": "object"}}}},
                                    "401": _error(), "403": _error()}}},
        "/api/deliveries": {"get": {
            "summary": "deliveries, filtered by state and account",
            "parameters": [
                {"name": "state", "in": "query", "description": "comma-separated states",
                 "schema": {"type": "string"}},
                {"name": "account", "in": "query", "schema": {"type": "string", "maxLength": 200}},
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": LIMIT_MIN, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT}},
            ],
            "responses": {"200": {"description": "deliveries", "content": {"application/json": {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}}}},
                "400": _error(), "401": _error(), "403": _error()}}},
        "/api/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI"}}}},
        "/metrics": {"get": {"summary": "Prometheus text exposition", "responses": {
            "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": _error(), "403": _error()}}},
    },
}
