"""Matplotlib figures off pyplot, and their PNG output.

The report's plots and the backtest's are built on
:class:`matplotlib.figure.Figure` with the Agg canvas directly, never
through :mod:`matplotlib.pyplot`: nothing global changes (no backend switch,
no figure manager, no open-figure registry), so plotting is safe from worker
threads and from programs that use pyplot themselves.  Matplotlib and
Pillow are imported inside the functions, so importing this module stays
cheap.

Every figure becomes a PNG the same way, :func:`png_bytes`; a file is those
bytes written atomically (:func:`save_png`), an inline image the same
picture with a palette of 64 colours (``png_bytes(fig, PNG_COLORS)``, the
bytes :func:`palette_png` makes of the file's) in a ``data:`` URI.

Functions
---------
new_figure
    A figure with an Agg canvas, unknown to pyplot.
png_bytes
    A figure as PNG bytes (full colour, or with a palette), then freed.
palette_png
    A PNG re-encoded with 64 colours, for pages that embed many.
save_png
    A figure written atomically as a PNG file.
no_data
    A "no data" message across an empty axes.
require_columns
    A clear error when a frame lacks columns a plot needs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from forecasting.files import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ACTUAL_COLOR", "FORECAST_COLOR", "HISTORY_COLOR", "PAST_COLORS", "PNG_COLORS", "new_figure", "no_data", "palette_png", "png_bytes", "require_columns", "save_png"]

#: Colours shared by every plot: history grey, actuals black, forecasts blue.
HISTORY_COLOR = "0.6"
ACTUAL_COLOR = "black"
FORECAST_COLOR = "tab:blue"
#: Colours of earlier runs' forecasts in a region's plot: the shortest lead first.
PAST_COLORS = ("tab:orange", "tab:purple")
#: Colours of :func:`palette_png`: a third of the bytes of full colour, no visible loss on a line plot.
PNG_COLORS = 64


def new_figure(figsize: Sequence[float], dpi: float, layout: str | None = None) -> "Figure":
    """A figure with an Agg canvas attached, unknown to pyplot.

    Parameters
    ----------
    figsize : (float, float)
        Width and height in inches.
    dpi : float
        Resolution: the PNG is ``figsize * dpi`` pixels.
    layout : str, optional
        Matplotlib layout engine (``"constrained"``), or ``None`` for fixed
        margins set by the caller (one draw per figure instead of two).

    Returns
    -------
    matplotlib.figure.Figure
        The empty figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=tuple(figsize), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: "Figure", colors: int | None = None) -> bytes:
    """Render ``fig`` at its own resolution as a PNG, then free it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure from :func:`new_figure`; it is cleared afterwards, even on
        failure.
    colors : int, optional
        Size of a palette (median cut, at most 256) for a smaller PNG: the
        same bytes as :func:`palette_png` of the full-colour one, without
        encoding and decoding that first.  By default full colour, the PNG
        that :func:`save_png` writes.

    Returns
    -------
    bytes
        The PNG.
    """
    from PIL import Image

    try:
        out = io.BytesIO()
        # The whole figure, whatever an rc file says about savefig.bbox or savefig.dpi.
        whole = {"dpi": fig.dpi, "bbox_inches": fig.bbox_inches}
        if colors is None:
            fig.savefig(out, format="png", **whole)
            return out.getvalue()
        fig.savefig(out, format="rgba", **whole)  # raw pixels: no full-colour PNG to encode and decode again
        image = Image.frombuffer("RGBA", fig.canvas.get_width_height(), out.getbuffer(), "raw", "RGBA", 0, 1)
    finally:
        fig.clear()
    return _palette(image, colors)


def palette_png(png: bytes, colors: int = PNG_COLORS) -> bytes:
    """``png`` re-encoded with a palette of ``colors`` colours.

    Parameters
    ----------
    png : bytes
        A PNG, for instance from :func:`png_bytes`.
    colors : int, default 64
        Size of the palette (median cut), at most 256.

    Returns
    -------
    bytes
        The same picture, same size, as a palette PNG.
    """
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return _palette(image, colors)


def _palette(image, colors: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(out, format="PNG")
    return out.getvalue()


def save_png(fig: "Figure", path) -> Path:
    """Write ``fig`` to ``path`` as a PNG (:func:`png_bytes`), atomically.

    Through :func:`forecasting.files.atomic_write`: a reader never sees half
    a file and a failure leaves any earlier file as it was.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; it is cleared afterwards.
    path : path-like
        Destination; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        ``path``, now holding the PNG.
    """
    data = png_bytes(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return path


def no_data(ax: "Axes", message: str = "no data") -> None:
    """Write ``message`` across the middle of ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        An axes with nothing to show.
    message : str, default "no data"
        The text.
    """
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4", fontsize=12)


def require_columns(frame: "pd.DataFrame", columns: Sequence[str], what: str) -> None:
    """Fail clearly when ``frame`` lacks any of ``columns``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The input of a plot.
    columns : sequence of str
        Columns the plot needs.
    what : str
        The input's name in the message (``"window"``, ``"metrics"``...).

    Raises
    ------
    ValueError
        Naming the missing columns and those ``frame`` has.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns)) or 'none'}")
