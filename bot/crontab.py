"""Crontab expressions read the way crontab reads them.

APScheduler 3's `CronTrigger.from_crontab` numbers the days of the week from Monday (0), where
crontab counts 0 and 7 as Sunday: `0 4 * * 0` would fire on Mondays. Here numbers in the
day-of-week field become day names first.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _crontab_days(field: str) -> str:
    """A crontab day-of-week field in APScheduler's terms. crontab counts 0 (and 7) as Sunday;
    APScheduler's numbers start at Monday, even in `from_crontab`, so numbers become names."""
    parts = []
    for part in field.split(","):
        body, _, step_text = part.partition("/")
        if not any(c.isdigit() for c in body) and not step_text:
            parts.append(part)  # `*`, names, name ranges: the same in both
            continue
        step = int(step_text) if step_text else 1
        if body == "*":
            lo, hi = 0, 6
        elif "-" in body:
            a, b = body.split("-", 1)
            lo, hi = int(a), int(b)
        else:
            lo = hi = int(body)
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi and step > 0):
            raise ValueError(f"bad day of week {part!r}")
        parts.extend(_DAY_NAMES[d] for d in range(lo, hi + 1, step))
    return ",".join(dict.fromkeys(parts))


def crontab_trigger(expression: str, tz: ZoneInfo) -> CronTrigger:
    """A 5-field crontab expression as crontab reads it (`0 4 * * 0` is Sunday 04:00)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, dow = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_crontab_days(dow), timezone=tz)
