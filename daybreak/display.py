"""Small formatting shared by the CLI and the web pages."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """``3h 05m``, ``4m 09s`` or ``12s``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
