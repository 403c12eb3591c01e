"""What a cache holds: :func:`cache_info` (``forecasting cache info``).

Everything comes from SQL aggregates; no region's history is loaded.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from forecasting.data import schema
from forecasting.data.cache import open_cache
from forecasting.data.timestamps import utc_text
from forecasting.engine.metrics import intermittent_share


def cache_info(path) -> dict:
    """Summarise a cache.

    Parameters
    ----------
    path : path-like
        The cache file.

    Returns
    -------
    dict
        ``path``, ``freq``, ``source``; ``regions``: per region ``region,
        name, timezone, first_slot, last_slot`` (ISO UTC text, None without
        orders), ``slots``, ``filled_slots`` (None when the cache does not
        record it: caches written before it did) and
        ``orders`` (their total), ``zero_share`` (the share of slots with no
        orders, None without orders) and ``intermittent`` (whether that share
        makes demand intermittent, :func:`forecasting.engine.metrics.is_intermittent`);
        ``regressors``: per exogenous name its
        ``first``/``last`` slot and ``regions``; ``weather_forecasts``: per
        variable its ``issues`` (distinct region and issue time), ``rows``,
        ``first_issued``/``last_issued`` and ``regions`` (empty for caches
        without forecasts, or written before the table); ``events``, ``promotions``:
        ``count``, ``first`` start, ``last`` end; ``holidays``: ``count``,
        ``first``/``last`` date.

    Raises
    ------
    CacheError
        If ``path`` is not a readable cache.
    """
    reader = open_cache(path)
    filled = json.loads(reader.meta["filled_slots"]) if "filled_slots" in reader.meta else None
    o, r, x = schema.orders, schema.regions, schema.exogenous
    per_region = (
        sa.select(r.c.region, r.c.name, r.c.timezone, sa.func.min(o.c.ts), sa.func.max(o.c.ts), sa.func.count(o.c.ts),
                  sa.func.total(o.c.orders), sa.func.total(sa.case((o.c.orders == 0, 1), else_=0)))
        .select_from(r.outerjoin(o, o.c.region == r.c.region))
        .group_by(r.c.region)
        .order_by(r.c.region)
    )
    regressors = sa.select(x.c.name, sa.func.min(x.c.ts), sa.func.max(x.c.ts), sa.func.count(sa.distinct(x.c.region))).group_by(
        x.c.name).order_by(x.c.name)
    with reader.connect() as conn:
        regions = [
            {
                "region": region, "name": name, "timezone": tz, "first_slot": utc_text(lo) or None,
                "last_slot": utc_text(hi) or None, "slots": n,
                "filled_slots": None if filled is None else int(filled.get(region, 0)), "orders": float(total),
                **_sparsity(zeros, n),
            }
            for region, name, tz, lo, hi, n, total, zeros in conn.execute(per_region).all()
        ]
        exog = {name: {"first": utc_text(lo), "last": utc_text(hi), "regions": n} for name, lo, hi, n in conn.execute(regressors)}
        forecasts = _forecasts(conn) if reader.has_weather_forecasts else {}
        intervals = {t.name: _intervals(conn, t) for t in (schema.events, schema.promotions)}
        h = schema.holidays
        count, first, last = conn.execute(sa.select(sa.func.count(), sa.func.min(h.c.date), sa.func.max(h.c.date))).one()
    return {
        "path": str(reader.path),
        "freq": reader.freq,
        "source": reader.source,
        "regions": regions,
        "regressors": exog,
        "weather_forecasts": forecasts,
        **intervals,
        "holidays": {"count": count, "first": first, "last": last},
    }


def _sparsity(zeros: float, slots: int) -> dict:
    share = float(zeros) / slots if slots else float("nan")
    return {"zero_share": share if slots else None, "intermittent": intermittent_share(share)}


def _forecasts(conn) -> dict:
    w = schema.weather_forecasts
    # One row per issue first (the primary key's order), then per variable.
    issues = sa.select(w.c.name, w.c.region, w.c.issued_at, sa.func.count().label("n")).group_by(
        w.c.region, w.c.name, w.c.issued_at).subquery()
    per_name = sa.select(issues.c.name, sa.func.count(), sa.func.sum(issues.c.n), sa.func.min(issues.c.issued_at),
                         sa.func.max(issues.c.issued_at), sa.func.count(sa.distinct(issues.c.region))).group_by(
        issues.c.name).order_by(issues.c.name)
    return {
        name: {"issues": n_issues, "rows": rows, "first_issued": utc_text(lo), "last_issued": utc_text(hi), "regions": n}
        for name, n_issues, rows, lo, hi, n in conn.execute(per_name)
    }


def _intervals(conn, table: sa.Table) -> dict:
    count, first, last = conn.execute(sa.select(sa.func.count(), sa.func.min(table.c.start_ts), sa.func.max(table.c.end_ts))).one()
    return {"count": count, "first": utc_text(first) or None, "last": utc_text(last) or None}


def _zero_text(row: dict) -> str:
    if row["zero_share"] is None:
        return "-"
    return f"{row['zero_share']:.0%}" + (" (intermittent)" if row["intermittent"] else "")


def info_text(info: dict) -> str:
    """:func:`cache_info`'s summary as lines for people."""
    slot = "1h" if info["freq"] == "h" else info["freq"]
    lines = [f"{info['path']}: {len(info['regions'])} regions, {slot} slots"]
    lines.append("region\tname\ttimezone\tfirst slot\tlast slot\tslots\tfilled zeros\torders\tzero slots")
    for row in info["regions"]:
        filled = "unknown" if row["filled_slots"] is None else str(row["filled_slots"])
        lines.append("\t".join([row["region"], row["name"], row["timezone"], row["first_slot"] or "-", row["last_slot"] or "-",
                                str(row["slots"]), filled, f"{row['orders']:g}", _zero_text(row)]))
    if info["regressors"]:
        for name, r in info["regressors"].items():
            lines.append(f"regressor {name}: {r['first']} .. {r['last']} ({r['regions']} regions)")
    else:
        lines.append("regressors: none")
    for name, f in info["weather_forecasts"].items():
        lines.append(f"weather forecast {name}: {f['issues']} issues, issued {f['first_issued']} .. {f['last_issued']} "
                     f"({f['regions']} regions, {f['rows']} rows)")
    if not info["weather_forecasts"]:
        lines.append("weather forecasts: none")
    for key in ("events", "promotions", "holidays"):
        d = info[key]
        lines.append(f"{key}: {d['count']}" + (f" ({d['first']} .. {d['last']})" if d["count"] else ""))
    return "\n".join(lines)
