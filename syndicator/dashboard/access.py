"""The dashboard's side of the roles (syndicator.roles): which action each POST path is, and the role of
the person whose page is being built, so that a button the person may not press is never drawn.

``views.guard`` sets ``CURRENT_ROLE`` for the request it serves (each request is its own task, so the
value never leaks between people) and refuses a POST whose action the role does not allow.
"""

from __future__ import annotations

from contextvars import ContextVar

from syndicator.roles import allows

CURRENT_ROLE: ContextVar[str] = ContextVar("dashboard_role", default="inspector")
READ_ONLY_POSTS = {"/logout"}          # a POST anyone logged in may send


def action_of(path: str) -> str:
    """The action a POST path takes: ``/actions/calendar-confirm`` → ``calendar_confirm``; anything
    else that is not read-only is an action of its own name (unknown actions need an admin)."""
    if path in READ_ONLY_POSTS:
        return "read"
    return path.removeprefix("/actions/").strip("/").replace("-", "_") or "unknown"


def may(path: str) -> bool:
    """True when the current person may POST to ``path`` (a form for it may be drawn)."""
    return allows(CURRENT_ROLE.get(), action_of(path))
