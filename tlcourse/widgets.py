"""Widgets that still work on the static site.

A static page has no kernel, so a widget cannot call Python when it is moved. What does work is a
widget whose every state is already in the page: a ``Stack`` of pre-rendered figures whose
``selected_index`` is linked *in the browser* (``jslink``) to a slider or a dropdown. The widget
state is saved into the notebook when it is executed, and the page's widget manager replays it.
"""
from __future__ import annotations

import io
from typing import Sequence

import ipywidgets as W


def figure_to_widget(fig, width: int | None = None) -> W.Image:
    """Render a matplotlib figure to a PNG ``Image`` widget and close the figure."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    layout = W.Layout(width=f"{width}px") if width else W.Layout(max_width="100%")
    return W.Image(value=buf.getvalue(), format="png", layout=layout)


def figure_stack(figures: Sequence, labels: Sequence[str], description: str = "show",
                 kind: str = "slider") -> W.VBox:
    """A selector (``slider`` or ``dropdown``) linked in the browser to a stack of figures.

    ``figures`` are matplotlib figures (closed here) or ready widgets; ``labels`` name each one.
    """
    if len(figures) != len(labels) or not figures:
        raise ValueError(f"need one label per figure, got {len(figures)} figures, {len(labels)} labels")
    children = [f if isinstance(f, W.Widget) else figure_to_widget(f) for f in figures]
    stack = W.Stack(children=children, selected_index=0)
    if kind == "slider":
        selector = W.SelectionSlider(options=list(labels), value=labels[0], description=description,
                                     continuous_update=True, layout=W.Layout(width="60%"))
        # The SelectionSlider's `index` trait syncs with the front end, so jslink works offline.
        W.jslink((selector, "index"), (stack, "selected_index"))
    elif kind == "dropdown":
        selector = W.Dropdown(options=list(labels), value=labels[0], description=description)
        W.jslink((selector, "index"), (stack, "selected_index"))
    else:
        raise ValueError(f"kind must be 'slider' or 'dropdown', not {kind!r}")
    return W.VBox([selector, stack])
