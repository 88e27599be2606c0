"""Config-time checks of what the platforms will refuse or what cannot reach anyone, run by ``load_settings``
(so ``check-config`` and every start catch them): each problem would otherwise fail every delivery at run time.

- Weibo: the post's link must lead to a page the unit's site serves. Where the unit has a static export, that page
  is ``<public_url>/articles/<key>.html`` (channels/website/static.py), so a ``link_template`` must be built on
  ``{page_url}``; a template of item_id / guid / … names a page nothing writes (the demo's links 404ed). The
  export's ``public_url`` must also lie on the Weibo app's 安全域名, or Weibo refuses the post (10017).
- JPush: the audience tag a unit's template produces must be a valid JPush tag (channels/push/render.py cites the
  rule: letters, digits, _, 汉字, @!#$&*+=.|￥; at most 40 UTF-8 bytes) — a unit id with "-" is not.
"""

from __future__ import annotations

from pydantic import ValidationError

from channels.base import AccountConfig, PermanentError
from channels.push.render import JPushOptions, audience_tag
from channels.weibo.render import WeiboOptions, on_safe_domain, reprint_link
from core.content import sample_item
from core.models import UnitRef

_SAMPLE_KEY = "0123456789abcdef0123456789abcdef"


def check_platform_rules(units: list[tuple[str, str, list[AccountConfig]]]) -> list[str]:
    """Problems, one line each; ``units`` is (unit id, unit name, accounts) in config order."""
    problems: list[str] = []
    for ui, (unit_id, unit_name, accounts) in enumerate(units):
        unit = UnitRef(unit_id, unit_name)
        statics = [a for a in accounts if a.kind == "static" and a.enabled]
        for ai, account in enumerate(accounts):
            where = f"units[{ui}](id={unit_id}).accounts[{ai}](id={account.id}).options"
            try:
                if account.kind == "weibo":
                    problems += _weibo_links(where, unit, WeiboOptions.model_validate(account.options), statics)
                elif account.kind == "push":
                    audience_tag(unit, JPushOptions.model_validate(account.options))
            except ValidationError:
                continue                       # reported by the channel's own Options check
            except PermanentError as exc:
                problems.append(f"{where}.audience_tag_template: {exc.detail} ({exc.reason})")
    return problems


def _weibo_links(where: str, unit: UnitRef, options: WeiboOptions, statics: list[AccountConfig]) -> list[str]:
    problems: list[str] = []
    for static in statics:
        public = str(static.options.get("public_url", ""))
        page = public.rstrip("/") + f"/articles/{_SAMPLE_KEY}.html"
        if not on_safe_domain(page, options.safe_domain):
            problems.append(f"{where}.safe_domain: the static export {static.id} serves its pages at {public}, not "
                            f"on the Weibo app's safe domain {options.safe_domain}: Weibo would refuse every post "
                            "(10017)")
            continue
        if options.link_template is None:
            continue
        try:
            link = reprint_link(sample_item(), unit, options, page)
        except PermanentError as exc:
            problems.append(f"{where}.link_template: {exc.detail}")
            continue
        if not link.startswith(page):
            problems.append(f"{where}.link_template: {options.link_template!r} gives {link}, a page the static "
                            f"export {static.id} does not write (it writes {public.rstrip('/')}/articles/<key>.html);"
                            " use {page_url} or leave link_template out")
    return problems
