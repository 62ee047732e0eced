"""Plotly figures used by the chapters. Traces are decimated so the committed notebooks stay small."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

PALETTE = qualitative.Plotly + qualitative.D3


def _every(n: int, step: int) -> slice:
    return slice(None, None, max(1, int(step)))


def spectra_figure(grid: np.ndarray, X: np.ndarray, y: np.ndarray, class_names: Sequence[str], *,
                   per_class: int = 3, decimate: int = 4, seed: int = 0, labels: Sequence[str] | None = None,
                   title: str = "Example spectra, per class") -> go.Figure:
    """A few spectra of each class, stacked with an offset; click a legend entry to hide a class."""
    rng = np.random.default_rng(seed)
    fig = go.Figure()
    sl = _every(len(grid), decimate)
    for k, name in enumerate(class_names):
        idx = np.flatnonzero(y == k)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j, i in enumerate(chosen):
            fig.add_trace(go.Scattergl(
                x=np.round(grid[sl], 1), y=np.round(X[i, sl] + 1.1 * k, 4), mode="lines",
                line=dict(width=1, color=PALETTE[k % len(PALETTE)]), name=name, legendgroup=name,
                showlegend=j == 0, hovertext=None if labels is None else labels[i]))
    fig.update_layout(title=title, xaxis_title="Raman shift (cm⁻¹)", yaxis_title="normalised intensity + offset",
                      height=650, template="plotly_white")
    return fig


def class_means_figure(grid: np.ndarray, X: np.ndarray, y: np.ndarray, class_names: Sequence[str], *,
                       decimate: int = 4, title: str = "Class mean ± 1 sd") -> go.Figure:
    """One panel per class: the mean spectrum with a band of ± one standard deviation."""
    n = len(class_names)
    cols = 2
    rows = int(np.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes=True, subplot_titles=list(class_names),
                        vertical_spacing=0.04)
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


def pareto_figure(records: Sequence[dict], *, x: str = "latency_ms", y: str = "accuracy", size: str = "params",
                  label: str = "name", title: str = "Accuracy vs batch-1 latency (marker area ~ parameters)",
                  log_x: bool = True) -> go.Figure:
    """Scatter of every model/variant; the Pareto front (faster *and* at least as accurate) is joined by a line."""
    pts = sorted(records, key=lambda r: r[x])
    sizes = np.array([max(float(r.get(size) or 1.0), 1.0) for r in pts])
    marker = 8 + 30 * np.sqrt(sizes / sizes.max())
    fig = go.Figure(go.Scatter(x=[r[x] for r in pts], y=[r[y] for r in pts], mode="markers+text",
                               text=[r[label] for r in pts], textposition="top center",
                               marker=dict(size=marker, color=[PALETTE[i % len(PALETTE)] for i in range(len(pts))]),
                               customdata=[r.get(size) for r in pts],
                               hovertemplate="%{text}<br>latency %{x:.3g} ms<br>accuracy %{y:.2f}<br>"
                                             "params %{customdata}<extra></extra>", showlegend=False))
    front, best = [], -np.inf
    for r in pts:
        if r[y] > best:
            front.append(r)
            best = r[y]
    fig.add_trace(go.Scatter(x=[r[x] for r in front], y=[r[y] for r in front], mode="lines",
                             line=dict(dash="dash", color="grey"), name="Pareto front"))
    fig.update_layout(title=title, xaxis_title="batch-1 latency (ms)", yaxis_title="accuracy (%)",
                      xaxis_type="log" if log_x else "linear", template="plotly_white", height=520)
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
