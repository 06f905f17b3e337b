"""rich progress bars that also show in a Jupyter notebook without ipywidgets.

rich draws a live display in a notebook through an ipywidgets ``Output``. Without ipywidgets
it draws nothing at all and warns ``install "ipywidgets" for Jupyter support`` on its first
refresh, so ``progress=True`` in a notebook left an empty cell and a warning, with no
bar, not even the final one. There, :func:`live_progress` draws the bars into one IPython
display that is replaced in place a couple of times a second (``display_id``), which every
notebook front end shows with no extension; anywhere else it is rich's own
:class:`rich.progress.Progress`.
"""

from __future__ import annotations

import io
from typing import Any

from rich.live import Live

NOTEBOOK_REFRESHES_PER_SECOND = 2.0
"""How often the notebook display is redrawn (each redraw is one message to the front end)."""

NOTEBOOK_COLUMNS = 100
"""The width, in characters, the bars are laid out in within a notebook."""

_PRE_STYLE = (
    "white-space:pre;overflow-x:auto;line-height:normal;"
    "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace"
)


def live_progress(*columns: Any, console: Any = None, **options: Any) -> Any:
    """A :class:`rich.progress.Progress` over ``columns`` that shows wherever it runs.

    Parameters
    ----------
    columns, options
        As for :class:`rich.progress.Progress`.
    console
        The console to draw on; None: rich's, or, in a Jupyter kernel without ipywidgets,
        a notebook display updated in place.

    Returns
    -------
    rich.progress.Progress
        Not started: use it as rich's (``start``/``stop``, or ``with``).
    """
    from rich.progress import Progress

    if console is not None or not notebook_without_widgets():
        return Progress(*columns, console=console, **options)
    from rich.console import Console

    bar = Progress(
        *columns,
        console=Console(force_jupyter=False, force_terminal=False, width=NOTEBOOK_COLUMNS),
        **options,
    )
    bar.live = _NotebookDisplayLive(bar)
    return bar


def notebook_without_widgets() -> bool:
    """True in a Jupyter kernel (as rich tells one) where ipywidgets cannot be imported:
    where rich's own live display would show nothing."""
    from rich.console import Console

    if not Console().is_jupyter:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return True
    return False


class _NotebookDisplayLive(Live):
    """rich's ``Live`` for a :class:`~rich.progress.Progress`, redrawn into one IPython
    display (plain text and HTML) instead of a terminal or an ipywidgets ``Output``."""

    def __init__(self, bar: Any) -> None:
        super().__init__(
            console=bar.console,
            auto_refresh=True,
            refresh_per_second=NOTEBOOK_REFRESHES_PER_SECOND,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
            get_renderable=bar.get_renderable,
        )
        self._handle: Any = None

    def refresh(self) -> None:
        """Redraw the display (the first call creates it under the running cell)."""
        from IPython.display import display

        with self._lock:
            data = _rendered(self.get_renderable())
            if self._handle is None:
                self._handle = display(data, raw=True, display_id=True)
            else:
                self._handle.update(data, raw=True)


def _rendered(renderable: Any) -> dict[str, str]:
    """``renderable`` as the plain text and HTML a notebook displays."""
    from rich.console import Console

    page = Console(
        record=True,
        file=io.StringIO(),
        width=NOTEBOOK_COLUMNS,
        force_terminal=True,
        force_jupyter=False,
        color_system="truecolor",
    )
    page.print(renderable)
    text = page.export_text(clear=False)
    html = page.export_html(
        inline_styles=True, code_format=f'<pre style="{_PRE_STYLE}">{{code}}</pre>'
    )
    return {"text/plain": text, "text/html": html}
