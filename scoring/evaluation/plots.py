"""Figures for evidence and reports (matplotlib, no display needed)."""

from __future__ import annotations

import pandas as pd


def _figure(ncols: int, width: float = 3.2, height: float = 3.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "SimHei", "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)


def class_labels(classes) -> list[str]:
    """ASCII titles for a model's classes: ``0: excellent`` .. ``4: bad``, or ``0: no outcome`` / ``1: outcome``."""
    from scoring.features.industry import GRADES, GRADES_EN

    en = dict(zip(GRADES, GRADES_EN))
    return [f"{i}: {en.get(c, 'outcome' if i else 'no outcome')}" for i, c in enumerate(classes)]


def reliability_figure(tables: list[dict], labels: list[str] | None = None, title: str = ""):
    """Reliability diagram per class: mean predicted against observed share by predicted deciles.
    ``tables`` rows hold class, predicted, observed, n (as in the grading evidence); ``labels`` are
    ASCII titles per class (CJK fonts are often missing on servers)."""
    t = pd.DataFrame(tables)
    classes = list(dict.fromkeys(t["class"]))
    fig, axes = _figure(len(classes))
    for ax, (i, c) in zip(axes[0], enumerate(classes)):
        d = t[t["class"] == c]
        top = max(d["predicted"].max(), d["observed"].max(), 0.05) * 1.05
        ax.plot([0, top], [0, top], color="#999", lw=1, ls="--")
        ax.plot(d["predicted"], d["observed"], marker="o", color="#1f5fa8")
        ax.set_xlim(0, top), ax.set_ylim(0, top)
        ax.set_title(labels[i] if labels else str(c), fontsize=9)
        ax.set_xlabel("predicted"), ax.set_ylabel("observed" if i == 0 else "")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
