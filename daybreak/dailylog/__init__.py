"""The Daily Log: what happened overnight, what went wrong, what to do about it.

    from daybreak.dailylog import build, render
    log = build(settings)              # stored; building the same window again returns it
    html = render(log, "html")         # or markdown, json, slack, teams, text
    DailyLogScheduler(settings).start()   # inside `daybreak up`: builds and sends at 09:30

Modules: ``window`` (zones, schedule), ``gather`` (content), ``formats`` (rendering),
``webhooks`` and ``deliver`` (sending), ``service`` (stored logs), ``scheduler``.
"""

from daybreak.dailylog.formats import FORMATS, render, render_html
from daybreak.dailylog.scheduler import DailyLogScheduler
from daybreak.dailylog.service import build, get, latest, list_logs, scheduled_due

__all__ = [
    "FORMATS",
    "DailyLogScheduler",
    "build",
    "get",
    "latest",
    "list_logs",
    "render",
    "render_html",
    "scheduled_due",
]
