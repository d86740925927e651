"""The one way a message reaches the terminal: control and bidi characters shown as escapes."""
from __future__ import annotations

import re

import click

# C0/C1 controls but tab and newline, and the bidi controls: from member data or a CSV cell
# they could retitle the terminal, clear it or reorder what a line says
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """The text with every unsafe character shown as its escape (\\x1b, \\u202e)."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100
                       else f"\\u{ord(m[0]):04x}", text)


def echo(message: object = "", err: bool = False, **kwargs) -> None:
    """click.echo of what may carry member data or a CSV cell: escapes made harmless."""
    click.echo(terminal_safe(str(message)), err=err, **kwargs)
