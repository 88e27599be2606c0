"""The statutory holidays whose dates the law itself fixes, for years nobody has published yet.

全国年节及纪念日放假办法 as revised in November 2024 (in force 2025-01-01), art. 2: 元旦 1 January
(1 day); 春节 农历除夕 and 正月初一 to 初三 (4 days); 清明节 the day of the 清明 solar term (1 day);
劳动节 1–2 May (2 days); 端午节 lunar 5/5 (1 day); 中秋节 lunar 8/15 (1 day); 国庆节 1–3 October
(3 days). These are days off whatever the State Council later arranges around them; only the
bridging days and the make-up workdays (调休) stay unknown until its notice appears.

Lunar dates and solar terms come from lunar-python (6tail/lunar-python on PyPI, pure Python,
maintained): ``Lunar.fromYmd(y, m, d).getSolar()`` converts a lunar date, and ``getJieQiTable()``
gives the solar terms of a lunar year by name.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import lru_cache

log = logging.getLogger(__name__)
FIRST_YEAR, LAST_YEAR = 1901, 2099     # range lunar-python's tables are documented and tested for


def _solar(lunar: object) -> date:
    s = lunar.getSolar()  # type: ignore[attr-defined]
    return date(s.getYear(), s.getMonth(), s.getDay())


@lru_cache(maxsize=64)
def statutory_holidays(year: int) -> dict[date, str]:
    """Day → holiday name for the fixed statutory days off of ``year`` (empty outside the library's range)."""
    out = {date(year, 1, 1): "元旦", date(year, 5, 1): "劳动节", date(year, 5, 2): "劳动节",
           **{date(year, 10, d): "国庆节" for d in (1, 2, 3)}}
    if not FIRST_YEAR <= year <= LAST_YEAR:
        log.warning("no lunar data for %d: only the fixed-date statutory holidays are known", year)
        return out
    from lunar_python import Lunar

    new_year = _solar(Lunar.fromYmd(year, 1, 1))           # 正月初一 falls in January or February of `year`
    for n in range(-1, 3):                                  # 除夕 (the day before 初一, month of 29 or 30 days) … 初三
        out[new_year + timedelta(n)] = "春节"
    qingming = Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"]   # 清明 (~4–6 April) is in this lunar year's table
    out.setdefault(date(qingming.getYear(), qingming.getMonth(), qingming.getDay()), "清明节")
    out.setdefault(_solar(Lunar.fromYmd(year, 5, 5)), "端午节")
    out.setdefault(_solar(Lunar.fromYmd(year, 8, 15)), "中秋节")     # may fall on 1–3 October (2028)
    return out
