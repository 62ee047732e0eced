"""Plotly figures used by the chapters, and how they are shown. Traces are decimated so the committed notebooks
stay small.

A figure is shown as plotly's own output (``application/vnd.plotly.v1+json``: interactive in JupyterLab, VS Code and
the book's static site) with a static image beside it (SVG or PNG, whichever is smaller), exported by plotly's own
kaleido, so that GitHub's notebook viewer and ``nbconvert`` (which run no JavaScript) show every figure too. The
image needs a Chrome/Chromium (``$BROWSER_PATH``, else ``chromium``/``google-chrome`` on the ``PATH``); without one
(or with ``RAMANCMP_STATIC_FIGURES=0``) figures carry the interactive output only, and a one-time note says so.
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative
from plotly.io._base_renderers import PlotlyRenderer
from plotly.subplots import make_subplots

PALETTE = qualitative.Plotly + qualitative.D3
PLOTLY_MIME = "application/vnd.plotly.v1+json"
STATIC_ENV = "RAMANCMP_STATIC_FIGURES"  # read by ramancmp.config.RunContext.from_env, never here
RENDERER = "ramancmp"
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    """The Chrome/Chromium kaleido uses: ``$BROWSER_PATH`` if it exists, else the first one on the ``PATH``."""
    chosen = os.environ.get("BROWSER_PATH")
    if chosen and os.path.exists(chosen):
        return chosen
    return next((path for path in map(shutil.which, _BROWSERS) if path), None)


class _StaticImages:
    """Exports figures with kaleido through one browser kept for the process (0.2 s a figure instead of 3 s)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled  # the run's static-figures switch (RunContext.static_figures), set by configure_renderer
        self.state = None  # None: not tried yet; True: server running; str: why there are no images

    def _start(self) -> None:
        if not self.enabled:
            self.state = f"static figure images are off (${STATIC_ENV}=0)"
            return
        browser = find_browser()
        if browser is None:
            self.state = ("no Chrome/Chromium found (set $BROWSER_PATH or install chromium): figures carry the "
                          "interactive plotly output only, without a static image for GitHub/nbconvert")
            return
        try:
            import kaleido
        except ImportError:
            self.state = "kaleido is not installed: figures carry the interactive plotly output only"
            return
        os.environ["BROWSER_PATH"] = browser
        try:
            kaleido.start_sync_server(silence_warnings=True)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the interactive output working
            self.state = f"the static image exporter could not start ({type(exc).__name__}: {exc})"
            return
        atexit.register(kaleido.stop_sync_server, silence_warnings=True)
        self.state = True

    def __call__(self, fig_dict: dict) -> dict[str, str]:
        """``{mime: data}`` for the smaller of SVG and PNG; ``{}`` (with a note the first time) when unavailable."""
        if self.state is None:
            self._start()
            if self.state is not True:
                print(f"note: {self.state}", file=sys.stderr)
        if self.state is not True:
            return {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "kopts is ignored if using a server"
                svg = pio.to_image(fig_dict, format="svg", validate=False)
                png = pio.to_image(fig_dict, format="png", validate=False)
        except Exception as exc:  # noqa: BLE001
            print(f"note: no static image for this figure ({type(exc).__name__}: {exc})", file=sys.stderr)
            return {}
        if len(svg) <= len(png) * 4 / 3:  # base64 makes the PNG 4/3 larger in the notebook
            return {"image/svg+xml": svg.decode("utf-8")}
        return {"image/png": base64.b64encode(png).decode("ascii")}


static_image = _StaticImages()


def _js_numbers(obj):
    """Integer-valued floats as ints, as JavaScript writes them: JupyterLab saves a notebook's outputs through
    JSON.stringify, which would turn every ``1.0`` into ``1`` -- a diff on saving an unchanged notebook."""
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 2 ** 53:
        return int(obj)
    if isinstance(obj, dict):
        return {k: _js_numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_js_numbers(v) for v in obj]
    return obj


class FigureRenderer(PlotlyRenderer):
    """plotly's mimetype output plus a static image of the same figure (see the module docstring)."""

    def to_mimebundle(self, fig_dict):
        bundle = super().to_mimebundle(fig_dict)
        bundle[PLOTLY_MIME] = _js_numbers(bundle[PLOTLY_MIME])
        bundle.update(static_image(bundle[PLOTLY_MIME]))
        return bundle


def configure_renderer(static: bool = True) -> None:
    """Make :data:`RENDERER` (interactive output + static image) plotly's default renderer; ``static=False``
    (the run's ``RunContext.static_figures``, ``$RAMANCMP_STATIC_FIGURES=0``) leaves the static image out."""
    if static != static_image.enabled:
        static_image.enabled, static_image.state = static, None
    if RENDERER not in pio.renderers:
        pio.renderers[RENDERER] = FigureRenderer()
    pio.renderers.default = RENDERER


def _every(n: int, step: int) -> slice:
    return slice(None, None, max(1, int(step)))


def spectra_figure(grid: np.ndarray, X: np.ndarray, y: np.ndarray, class_names: Sequence[str], *,
                   per_class: int = 3, decimate: int = 4, seed: int = 0, labels: Sequence[str] | None = None,
                   title: str = "Example spectra, per class") -> go.Figure:
    """A few spectra of each class, stacked with an offset; click a legend entry to hide a class.

    ``y`` holds one class index per row of ``X`` (a list or an array); a class without spectra draws nothing."""
    X, y = np.asarray(X), np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y must hold one class index per spectrum of X: got shape {y.shape} for {len(X)} spectra")
    rng = np.random.default_rng(seed)
    fig = go.Figure()
    sl = _every(len(grid), decimate)
    for k, name in enumerate(class_names):
        idx = np.flatnonzero(y == k)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j, i in enumerate(chosen):
            fig.add_trace(go.Scatter(
                x=np.round(grid[sl], 1), y=np.round(X[i, sl] + 1.1 * k, 4), mode="lines",
                line=dict(width=1, color=PALETTE[k % len(PALETTE)]), name=name, legendgroup=name,
                showlegend=j == 0, hovertext=None if labels is None else labels[i]))
    fig.update_layout(title=title, xaxis_title="Raman shift (cm⁻¹)", yaxis_title="normalised intensity + offset",
                      height=650, template="plotly_white")
    return fig


def _class_panels(titles: list[str], vertical_spacing: float, cols: int = 2) -> tuple[go.Figure, int, int]:
    """The grid of per-class panels (two columns, a shared wavenumber axis): ``(figure, rows, cols)``; panel ``k``
    is at row ``k // cols + 1``, column ``k % cols + 1``."""
    rows = int(np.ceil(len(titles) / cols))
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes=True, subplot_titles=titles,
                        vertical_spacing=vertical_spacing)
    return fig, rows, cols


def class_means_figure(grid: np.ndarray, X: np.ndarray, y: np.ndarray, class_names: Sequence[str], *,
                       decimate: int = 4, title: str = "Class mean ± 1 sd") -> go.Figure:
    """One panel per class: the mean spectrum with a band of ± one standard deviation."""
    fig, rows, cols = _class_panels(list(class_names), vertical_spacing=0.04)
    sl = _every(len(grid), decimate)
    x = np.round(grid[sl], 1)
    for k, name in enumerate(class_names):
        Xk = X[y == k][:, sl]
        mean, sd = Xk.mean(axis=0), Xk.std(axis=0)
        r, c = divmod(k, cols)
        color = PALETTE[k % len(PALETTE)]
        fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]),
                                 y=np.round(np.concatenate([mean + sd, (mean - sd)[::-1]]), 4),
                                 fill="toself", line=dict(width=0), fillcolor=color, opacity=0.25,
                                 hoverinfo="skip", showlegend=False), row=r + 1, col=c + 1)
        fig.add_trace(go.Scatter(x=x, y=np.round(mean, 4), line=dict(color=color, width=1.2),
                                 name=f"{name} (n={len(Xk)})", showlegend=False), row=r + 1, col=c + 1)
    fig.update_layout(title=title, height=220 * rows, template="plotly_white")
    fig.update_xaxes(title_text="Raman shift (cm⁻¹)", row=rows)
    return fig


def bands_figure(grid: np.ndarray, X: np.ndarray, y: np.ndarray, class_names: Sequence[str], bands: Sequence[dict],
                 *, decimate: int = 4, title: str = "Class means and the groups' characteristic bands") -> go.Figure:
    """One panel per class: the mean spectrum, with each of the class's bands (``bands``: dicts with ``group``,
    ``low_cm1``, ``high_cm1``, ``assignment``, ``source``) shaded where it lies on the grid (hover the marker above a
    band for its assignment and source); bands off the grid are named in the panel's title."""
    lo_grid, hi_grid = float(grid[0]), float(grid[-1])

    def span(b: dict) -> str:
        lo, hi = float(b["low_cm1"]), float(b["high_cm1"])
        return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"

    def on_grid(b: dict) -> bool:
        return float(b["high_cm1"]) >= lo_grid and float(b["low_cm1"]) <= hi_grid

    titles = []
    for name in class_names:
        off = [span(b) for b in bands if b["group"] == name and not on_grid(b)]
        titles.append(f"{name} (off the grid: {', '.join(off)} cm⁻¹)" if off else name)
    fig, rows, cols = _class_panels(titles, vertical_spacing=0.045)
    sl = _every(len(grid), decimate)
    x = np.round(grid[sl], 1)
    for k, name in enumerate(class_names):
        r, c = divmod(k, cols)
        color = PALETTE[k % len(PALETTE)]
        mean = X[y == k][:, sl].mean(axis=0) if np.any(y == k) else np.zeros(len(x))
        top = float(mean.max()) if len(mean) else 1.0
        fig.add_trace(go.Scatter(x=x, y=np.round(mean, 4), line=dict(color=color, width=1.2),
                                 name=f"{name} (n={int(np.sum(y == k))})", showlegend=False), row=r + 1, col=c + 1)
        for b in (b for b in bands if b["group"] == name and on_grid(b)):
            lo_c, hi_c = max(float(b["low_cm1"]), lo_grid), min(float(b["high_cm1"]), hi_grid)
            if hi_c - lo_c < 4:  # a single position: widen to a visible line
                lo_c, hi_c = lo_c - 2, hi_c + 2
            fig.add_vrect(x0=lo_c, x1=hi_c, fillcolor="grey", opacity=0.22, line_width=0, row=r + 1, col=c + 1)
            fig.add_trace(go.Scatter(x=[(lo_c + hi_c) / 2], y=[1.08 * top], mode="markers",
                                     marker=dict(symbol="triangle-down", size=7, color="black"), showlegend=False,
                                     hovertext=f"{span(b)} cm⁻¹: {b['assignment']} [{b['source']}]", hoverinfo="text"),
                          row=r + 1, col=c + 1)
    fig.update_annotations(font_size=12)
    fig.update_layout(title=title, height=220 * rows, template="plotly_white")
    fig.update_xaxes(title_text="Raman shift (cm⁻¹)", row=rows)
    return fig


def overlay_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, title: str = "Spectra",
                   yaxis_title: str = "intensity", decimate: int = 1) -> go.Figure:
    """Several spectra on one axis, each ``name: (wavenumber, intensity)`` (e.g. a RAW file and its Processed one)."""
    fig = go.Figure()
    for k, (name, (x, y)) in enumerate(curves.items()):
        sl = _every(len(x), decimate)
        fig.add_trace(go.Scatter(x=np.round(np.asarray(x)[sl], 1), y=np.round(np.asarray(y)[sl], 3), mode="lines",
                                 name=name, line=dict(width=1.2, color=PALETTE[k % len(PALETTE)])))
    fig.update_layout(title=title, xaxis_title="Raman shift (cm⁻¹)", yaxis_title=yaxis_title, height=400,
                      template="plotly_white")
    return fig


def counts_figure(counts: dict[str, int], samples: dict[str, int] | None = None,
                  title: str = "Spectra and samples per class") -> go.Figure:
    names = list(counts)
    fig = go.Figure(go.Bar(x=names, y=[counts[n] for n in names], name="spectra"))
    if samples:
        fig.add_trace(go.Bar(x=names, y=[samples[n] for n in names], name="samples (RRUFF IDs)"))
    fig.update_layout(title=title, barmode="group", yaxis_title="count", template="plotly_white", height=400)
    return fig


def confusion_figure(cm: np.ndarray | list, class_names: Sequence[str], *, normalise: bool = True,
                     title: str = "Confusion matrix (rows: true class)") -> go.Figure:
    cm = np.asarray(cm, dtype=float)
    z = cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None) if normalise else cm
    fig = go.Figure(go.Heatmap(z=np.round(z, 3), x=list(class_names), y=list(class_names), colorscale="Blues",
                               text=cm.astype(int), texttemplate="%{text}", hovertemplate="true %{y}<br>"
                               "predicted %{x}<br>fraction %{z}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                      height=520, width=620, template="plotly_white")
    return fig


def curves_figure(histories: Sequence[dict], title: str = "Training curves") -> go.Figure:
    """Loss and accuracy per epoch for one or more training runs (``{"label", "train_loss", "val_loss", ...}``)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["loss", "accuracy"])
    for i, h in enumerate(histories):
        color = PALETTE[i % len(PALETTE)]
        label = h.get("label", f"run {i}")
        epochs = list(range(1, len(h["train_loss"]) + 1))
        for col, key in ((1, "loss"), (2, "acc")):
            for part, dash in (("train", "dot"), ("val", "solid")):
                values = h.get(f"{part}_{key}")
                if values is None:
                    continue
                fig.add_trace(go.Scatter(x=epochs, y=np.round(values, 4), line=dict(color=color, dash=dash),
                                         name=f"{label} {part}", legendgroup=label, showlegend=col == 1),
                              row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, height=380, template="plotly_white")
    return fig


def mean_sd_bar_figure(rows: Sequence[dict], *, x: str, y: str = "mean", error: str = "sd", color: str | None = None,
                       title: str = "", yaxis_title: str = "accuracy (%)") -> go.Figure:
    """Bars with ± sd error bars from a list of ``{x, color, mean, sd}`` records."""
    fig = go.Figure()
    groups = sorted({r[color] for r in rows}) if color else [None]
    for g in groups:
        part = [r for r in rows if color is None or r[color] == g]
        fig.add_trace(go.Bar(x=[r[x] for r in part], y=[r[y] for r in part], name=str(g) if g else y,
                             error_y=dict(type="data", array=[r[error] for r in part])))
    fig.update_layout(title=title, barmode="group", yaxis_title=yaxis_title, template="plotly_white", height=420)
    return fig


def pareto_front(records: Sequence[Any], *, x: str = "latency_ms", y: str = "accuracy") -> list[dict]:
    """The Pareto front of ``records`` (dicts or table rows with ``point()``; those without ``x`` left out): ordered
    by ``x`` (latency), every point more accurate than all faster ones -- no other point is both faster and at least
    as accurate. What :func:`pareto_figure` draws, and what generated prose names."""
    records = [r.point() if hasattr(r, "point") else r for r in records]
    front, best = [], -np.inf
    for r in sorted((r for r in records if r.get(x) is not None and r.get(y) is not None), key=lambda r: r[x]):
        if r[y] > best:
            front.append(r)
            best = r[y]
    return front


def pareto_figure(records: Sequence[dict], *, x: str = "latency_ms", y: str = "accuracy", size: str = "params",
                  label: str = "name", title: str = "Accuracy vs batch-1 latency (marker area ~ parameters)",
                  log_x: bool = True) -> go.Figure:
    """Scatter of every model/variant; the Pareto front (faster *and* at least as accurate) is joined by a line.

    Only the points on the front are labelled (the others pile up); hover over any point for its name.
    ``records``: dicts with ``name``, ``accuracy`` (%), ``latency_ms`` and ``params``, or table rows with a
    ``point()`` method (:class:`ramancmp.experiments.tables.Row`); records without a latency are left out.
    """
    records = [r.point() if hasattr(r, "point") else r for r in records]
    pts = sorted((r for r in records if r.get(x) is not None), key=lambda r: r[x])
    sizes = np.array([max(float(r.get(size) or 1.0), 1.0) for r in pts])
    marker = 8 + 30 * np.sqrt(sizes / sizes.max()) if len(pts) else []
    hover = "%{hovertext}<br>latency %{x:.3g} ms<br>accuracy %{y:.2f}<br>params %{customdata:,}<extra></extra>"
    fig = go.Figure(go.Scatter(x=[r[x] for r in pts], y=[r[y] for r in pts], mode="markers",
                               hovertext=[r[label] for r in pts],
                               marker=dict(size=marker, opacity=0.75,
                                           color=[PALETTE[i % len(PALETTE)] for i in range(len(pts))]),
                               customdata=[r.get(size) for r in pts], hovertemplate=hover, showlegend=False))
    front = pareto_front(pts, x=x, y=y)
    fig.add_trace(go.Scatter(x=[r[x] for r in front], y=[r[y] for r in front], mode="lines",
                             hovertext=[r[label] for r in front], customdata=[r.get(size) for r in front],
                             hovertemplate=hover, line=dict(dash="dash", color="grey"), name="Pareto front"))
    # Only the front is labelled, with leader lines alternating above and below so that neighbours do not overlap.
    for i, r in enumerate(front):
        fig.add_annotation(x=np.log10(r[x]) if log_x else r[x], y=r[y], text=str(r[label]), showarrow=True,
                           arrowhead=0, arrowwidth=1, arrowcolor="grey", ax=0, ay=(-28, 28, -52, 52)[i % 4],
                           font=dict(size=10), bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(title=title, xaxis_title="batch-1 latency (ms)", yaxis_title="accuracy (%)",
                      xaxis_type="log" if log_x else "linear", template="plotly_white", height=520,
                      legend=dict(orientation="h", y=-0.15))
    return fig


def preprocessing_figure(wavenumber: np.ndarray, intensity: np.ndarray, grid: np.ndarray, processed: np.ndarray, *,
                         title: str = "One spectrum before and after preprocessing") -> go.Figure:
    """The raw file (left axis) and the resampled, normalised spectrum the models see (right axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    step = max(1, len(wavenumber) // 1500)
    fig.add_trace(go.Scatter(x=np.round(wavenumber[::step], 2), y=np.round(intensity[::step], 3), name="file",
                             line=dict(color="lightgrey", width=3)), secondary_y=False)
    fig.add_trace(go.Scatter(x=np.round(grid, 2), y=np.round(processed, 4), name="preprocessed (grid)",
                             line=dict(color=PALETTE[0], width=1)), secondary_y=True)
    fig.add_vrect(x0=grid[0], x1=grid[-1], fillcolor="green", opacity=0.05, line_width=0)
    fig.update_layout(title=title, xaxis_title="Raman shift (cm⁻¹)", template="plotly_white", height=400)
    fig.update_yaxes(title_text="intensity (file units)", secondary_y=False)
    fig.update_yaxes(title_text="normalised", secondary_y=True)
    return fig


def soft_targets_figure(class_names: Sequence[str], logits: np.ndarray, temperatures: Sequence[float] = (1, 2, 4, 8),
                        true_class: int | None = None,
                        title: str = "Teacher's soft targets softmax(z / T) for one spectrum") -> go.Figure:
    """Grouped bars: the one-hot hard target and the teacher's class distribution at several temperatures."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    fig = go.Figure()
    if true_class is not None:
        fig.add_trace(go.Bar(x=list(class_names), y=np.eye(len(z))[true_class], name="hard target (label)",
                             marker_color="lightgrey"))
    for i, t in enumerate(temperatures):
        p = np.exp((z - z.max()) / t)
        fig.add_trace(go.Bar(x=list(class_names), y=np.round(p / p.sum(), 4), name=f"T = {t:g}",
                             marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(title=title, barmode="group", yaxis_title="probability", template="plotly_white", height=420)
    return fig


def folded_spectrum_figure(grid: np.ndarray, spectrum: np.ndarray, k: int, *, mode: str = "interleaved",
                           title: str | None = None) -> go.Figure:
    """The spectrum (top) and the k channels a folded DRSN's stem sees (below), each against its own positions."""
    x = np.asarray(spectrum, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    m = len(x) // k
    chans = x.reshape(m, k).T if mode == "interleaved" else x.reshape(k, m)
    waves = g.reshape(m, k).T if mode == "interleaved" else g.reshape(k, m)
    fig = make_subplots(rows=2, cols=1, row_heights=[0.35, 0.65], vertical_spacing=0.12,
                        subplot_titles=[f"spectrum, {len(x)} points",
                                        f"folded ({mode}): {k} channels x {m} positions (offset for clarity)"])
    fig.add_trace(go.Scatter(x=np.round(g, 1), y=np.round(x, 4), name="spectrum", line=dict(color="black", width=1)),
                  row=1, col=1)
    for c in range(k):
        fig.add_trace(go.Scatter(x=np.arange(m), y=np.round(chans[c] + 1.1 * c, 4), name=f"channel {c}",
                                 line=dict(width=1, color=PALETTE[c % len(PALETTE)]),
                                 hovertext=[f"{w:.1f} cm⁻¹" for w in waves[c]]), row=2, col=1)
    fig.update_xaxes(title_text="Raman shift (cm⁻¹)", row=1, col=1)
    fig.update_xaxes(title_text="position in the folded sequence", row=2, col=1)
    fig.update_layout(title=title or f"Channel conversion: one spectrum folded into {k} channels",
                      template="plotly_white", height=600)
    return fig


def projection_figure(Z: np.ndarray, y: np.ndarray, class_names: Sequence[str], *, test: np.ndarray | None = None,
                      title: str = "Features projected on the first two LDA axes") -> go.Figure:
    """2-D scatter of projected features per class; ``test`` (bool mask) draws test spectra as open markers."""
    Z = np.asarray(Z)
    fig = go.Figure()
    test = np.zeros(len(Z), bool) if test is None else np.asarray(test, bool)
    for k, name in enumerate(class_names):
        for part, symbol in ((~test, "circle"), (test, "circle-open")):
            idx = np.flatnonzero((np.asarray(y) == k) & part)
            if not len(idx):
                continue
            fig.add_trace(go.Scatter(x=np.round(Z[idx, 0], 3), y=np.round(Z[idx, 1], 3), mode="markers",
                                     marker=dict(color=PALETTE[k % len(PALETTE)], symbol=symbol, size=6),
                                     name=name + (" (test)" if symbol == "circle-open" else ""),
                                     legendgroup=name))
    fig.update_layout(title=title, xaxis_title="LD 1", yaxis_title="LD 2", template="plotly_white", height=520)
    return fig


def soft_threshold_figure(model, spectrum: np.ndarray, grid: np.ndarray, *, unit: tuple[int, int] = (0, 0),
                          channel: int | None = None, title: str | None = None) -> go.Figure:
    """What one residual shrinkage unit of a trained DRSN does to a real spectrum's feature map.

    Top: the input spectrum. Bottom: one channel of the unit's residual branch before soft thresholding, the learnt
    thresholds ±tau for this spectrum and channel, and the output after ``sign(x) * max(|x| - tau, 0)``. The channel
    defaults to the one whose threshold removes the largest fraction of the signal.
    """
    import torch

    stage, index = unit
    shrinkage = model.stages[stage][index].shrinkage
    captured = {}
    handle = shrinkage.register_forward_hook(lambda m, inp, out: captured.update(pre=inp[0], post=out))
    model.eval()
    try:
        with torch.inference_mode():
            model(torch.as_tensor(spectrum, dtype=torch.float32).reshape(1, 1, -1))
            tau = shrinkage.thresholds(captured["pre"])
    finally:
        handle.remove()
    pre, post = captured["pre"][0].numpy(), captured["post"][0].numpy()
    tau = np.broadcast_to(tau[0, :, 0].numpy(), (pre.shape[0],))
    if channel is None:
        removed = 1.0 - np.abs(post).sum(axis=1) / np.maximum(np.abs(pre).sum(axis=1), 1e-12)
        channel = int(np.argmax(removed))
    positions = np.linspace(grid[0], grid[-1], pre.shape[1])
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.35, 0.65], vertical_spacing=0.06,
                        subplot_titles=["input spectrum", f"stage {stage + 1}, unit {index + 1}, channel {channel}: "
                                        f"tau = {tau[channel]:.3g}"])
    step = max(1, len(grid) // 1024)
    fig.add_trace(go.Scatter(x=np.round(grid[::step], 1), y=np.round(spectrum[::step], 4), name="spectrum",
                             line=dict(color="grey", width=1)), row=1, col=1)
    fig.add_trace(go.Scatter(x=np.round(positions, 1), y=np.round(pre[channel], 4), name="before thresholding",
                             line=dict(color=PALETTE[0], width=1)), row=2, col=1)
    fig.add_trace(go.Scatter(x=np.round(positions, 1), y=np.round(post[channel], 4), name="after soft thresholding",
                             line=dict(color=PALETTE[1], width=1.5)), row=2, col=1)
    for sign in (1, -1):
        fig.add_hline(y=sign * float(tau[channel]), line=dict(dash="dash", color="black", width=1), row=2, col=1)
    fig.update_layout(title=title or "Soft thresholding inside a residual shrinkage unit", template="plotly_white",
                      height=560)
    fig.update_xaxes(title_text="Raman shift (cm⁻¹), feature-map positions mapped onto the grid", row=2, col=1)
    return fig


def deployment_figure(rows: Sequence[Any], *, x: str = "latency_b1_ms", y: str = "accuracy",
                      title: str = "Deployment variants: accuracy vs batch-1 latency") -> go.Figure:
    """One colour per network; each variant a marker, the pruning ratios of a network joined by a line.

    ``rows`` are :func:`ramancmp.experiments.deployment.deployment_variants` records (``DeploymentVariant``, or
    their saved dicts: ``model``, ``variant``, ``prune_ratio``,
    ``accuracy`` in [0, 1], ``mflops``, ``latency_b1_ms``, ``throughput_b256``); hover shows FLOPs and throughput.
    """
    symbols = {"float": "circle", "int8": "diamond", "onnx": "square", "onnx int8": "square-open"}
    rows = [r if isinstance(r, Mapping) else r.to_dict() for r in rows]  # DeploymentVariant or its saved dict
    fig = go.Figure()
    for i, model in enumerate(dict.fromkeys(r["model"] for r in rows)):
        color = PALETTE[i % len(PALETTE)]
        part = [r for r in rows if r["model"] == model]
        curve = sorted([r for r in part if r["variant"] == "float" or r["prune_ratio"] > 0],
                       key=lambda r: r["prune_ratio"])
        fig.add_trace(go.Scatter(x=[r[x] for r in curve], y=[100 * r[y] for r in curve], mode="lines",
                                 line=dict(color=color, dash="dot"), name=f"{model}: pruning", legendgroup=model,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=[r[x] for r in part], y=[100 * r[y] for r in part], mode="markers", name=model, legendgroup=model,
            marker=dict(color=color, size=11, symbol=[symbols.get(r["variant"], "triangle-up") for r in part]),
            text=[r["variant"] for r in part],
            customdata=[[r["mflops"], r["throughput_b256"], r["params"]] for r in part],
            hovertemplate=(f"{model}: " + "%{text}<br>latency %{x:.3g} ms<br>accuracy %{y:.1f} %<br>"
                           "%{customdata[0]:.2f} MFLOPs, %{customdata[2]:,} params<br>"
                           "%{customdata[1]:,.0f} spectra/s at batch 256<extra></extra>")))
    fig.update_layout(title=title, xaxis_title="batch-1 latency (ms, log)", yaxis_title="test accuracy (%)",
                      xaxis_type="log", template="plotly_white", height=520)
    return fig


def attribution_figure(grid: np.ndarray, means: np.ndarray, attribution: np.ndarray, class_names: Sequence[str],
                       bands: Sequence[dict] = (), *, decimate: int = 2,
                       title: str = "What the CNN looks at: occlusion over the class means") -> go.Figure:
    """One panel per class: the class-mean spectrum (grey) and the occlusion attribution (colour, scaled to the
    panel's mean spectrum; positive = evidence for the class), with the class's characteristic bands (``bands``:
    dicts with ``group``, ``low_cm1``, ``high_cm1``) shaded where they lie on the grid."""
    fig, rows, cols = _class_panels(list(class_names), vertical_spacing=0.045)
    sl = _every(len(grid), decimate)
    x = np.round(np.asarray(grid)[sl], 1)
    lo_grid, hi_grid = float(grid[0]), float(grid[-1])
    for k, name in enumerate(class_names):
        r, c = divmod(k, cols)
        mean, att = np.asarray(means[k])[sl], np.asarray(attribution[k])[sl]
        if not np.isfinite(mean).all():
            continue
        scale = float(np.nanmax(mean)) / max(float(np.nanmax(np.abs(att))), 1e-12)
        fig.add_trace(go.Scatter(x=x, y=np.round(mean, 4), line=dict(color="grey", width=1), name="class mean",
                                 showlegend=k == 0, legendgroup="mean"), row=r + 1, col=c + 1)
        fig.add_trace(go.Scatter(x=x, y=np.round(att * scale, 4), line=dict(color=PALETTE[k % len(PALETTE)], width=1.4),
                                 name="occlusion (scaled)", showlegend=k == 0, legendgroup="att"), row=r + 1, col=c + 1)
        for b in bands:
            if b["group"] != name:
                continue
            lo, hi = max(float(b["low_cm1"]), lo_grid), min(float(b["high_cm1"]), hi_grid)
            if hi < lo:
                continue
            if hi - lo < 4:
                lo, hi = lo - 2, hi + 2
            fig.add_vrect(x0=lo, x1=hi, fillcolor="grey", opacity=0.2, line_width=0, row=r + 1, col=c + 1)
    fig.update_layout(title=title, height=200 * rows, template="plotly_white")
    fig.update_xaxes(title_text="Raman shift (cm⁻¹)", row=rows)
    return fig


def baseline_figure(grid: np.ndarray, curves: dict[str, np.ndarray], *,
                    title: str = "Baseline correction") -> go.Figure:
    """Several curves on one wavenumber axis (``{label: intensity}``), e.g. a RAW spectrum, RRUFF's Processed one and
    each method's correction, each scaled to [0, 1] so their shapes compare."""
    fig = go.Figure()
    for k, (label, y) in enumerate(curves.items()):
        y = np.asarray(y, dtype=float)
        span = float(np.ptp(y)) or 1.0
        fig.add_trace(go.Scatter(x=np.round(grid, 1), y=np.round((y - y.min()) / span, 4), name=label,
                                 line=dict(width=1.2, color=PALETTE[k % len(PALETTE)])))
    fig.update_layout(title=title, xaxis_title="Raman shift (cm⁻¹)", yaxis_title="intensity (scaled to [0, 1])",
                      template="plotly_white", height=420)
    return fig
