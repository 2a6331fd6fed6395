"""A checkbox whose state is written, not only coloured."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class TickBox(Checkbox):
    """A Checkbox drawn ``[x]`` when ticked and ``[ ]`` when not.

    Textual's own draws ``▐X▌`` either way and tells the two apart by colour alone, which
    some themes, monochrome terminals and every plain-text capture of the screen lose.
    Everything else (keys, messages, ``value``) is the Checkbox's.
    """

    DEFAULT_CSS = """
    TickBox > .toggle--button { color: $foreground; background: transparent; text-style: bold; }
    TickBox.-on > .toggle--button { color: $success; background: transparent; }
    """

    @property
    def _button(self) -> Content:
        return Content.styled("[x]" if self.value else "[ ]", self.get_visual_style("toggle--button"))
