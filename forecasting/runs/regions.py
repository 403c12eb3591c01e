"""The regions a nightly run or a backtest computes: all of the cache's, or those asked for."""

from __future__ import annotations

from forecasting.errors import UsageError, did_you_mean

__all__ = ["select_regions"]


def select_regions(available: list[str], requested: list[str] | None) -> list[str]:
    """The regions to run: all, or the requested ones (which must exist)."""
    if not requested:
        return list(available)
    known = set(available)
    missing = [r for r in requested if r not in known]
    if missing:
        hint = did_you_mean(missing[0], available)
        raise UsageError(f"regions: not in the cache: {', '.join(map(repr, missing))}{hint}", param="regions")
    return list(dict.fromkeys(requested))
