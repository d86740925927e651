"""One exception family: every error says where it is (file, line, field, member)."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True, order=True)
class Where:
    """A place in an input file; line is 1-based, 0 when unknown."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class MemberPortalError(Exception):
    """Base of every error this tool reports to a user (never a traceback)."""

    def __init__(self, message: str, where: Where | None = None, field: str | None = None,
                 member: str | None = None, kind: str | None = None, path: tuple = (),
                 said: list[tuple[str, dict]] | None = None):
        super().__init__(message)
        self.message = message
        # the message as catalogue entries (key, params), joined: the command line says it in
        # its language when the catalogue has every part, else says `message`
        self.said = said
        self.where = where
        self.field = field
        self.member = member
        self.kind = kind
        self.path = path  # inside the member's record; the project turns it into a line

    def __str__(self) -> str:
        head = [str(self.where)] if self.where else []
        if self.kind:
            head.append(self.kind)
        if self.member:
            head.append(f"member {self.member}")
        if self.field:
            head.append(f"field '{self.field}'")
        return (": ".join([", ".join(head), self.message]) if head else self.message)


def worded(key: str, /, *more: tuple[str, dict], **params) -> dict:
    """An error worded by the catalogue: `message` in English (as raised, logged and tested)
    and `said`, the entries and their parameters (`key` with `params`, then `more`), for the
    command line's language."""
    from memberportal.render.messages import CATALOGUE, plurals  # render is above: when raised
    said = [(key, params), *more]
    return {"message": plurals("".join(CATALOGUE["en"][k].format(**p) for k, p in said)),
            "said": said}


class Worded(ValueError):
    """A model rule's failure, worded by the catalogue (pydantic passes it on as the error's
    ctx['error']; cross-reference checks return it as their message)."""

    def __init__(self, key: str, **params):
        told = worded(key, **params)
        super().__init__(told["message"])
        self.message, self.said = told["message"], told["said"]


class InputError(MemberPortalError):
    """Bad input data: YAML, CSV, a member record or the program."""


class TemplateError(MemberPortalError):
    """A template that cannot render: unknown variable, forbidden URL, syntax."""


class BuildError(MemberPortalError):
    """An artifact that failed to build."""


class ValidationFailed(MemberPortalError):
    """Many errors found in one pass; raised once after everything was checked."""

    def __init__(self, errors: list[MemberPortalError], limit: int | None = None):
        self.errors = sorted(errors, key=lambda e: (e.where or Where(""), e.message))
        self.limit = limit  # show this many, then a count (an export with 24,000 bad rows)
        n = len(self.errors)
        super().__init__(f"{n:,} error{'s' if n != 1 else ''} found",
                         said=[("cli.errors_found", {"n": f"{n:,}"})])

    def __str__(self) -> str:
        shown = self.errors if self.limit is None else self.errors[:self.limit]
        more = len(self.errors) - len(shown)
        tail = [f"… and {more:,} more (not listed)"] if more else []
        return "\n".join([*(str(e) for e in shown), *tail, self.message])

    def __reduce__(self):  # crosses process boundaries (render workers) intact
        return (type(self), (self.errors, self.limit))


@contextmanager
def warnings_of(logger_name: str, quiet: bool = False) -> Iterator[list[str]]:
    """What a library logs at WARNING or above while the block runs, for us to report as
    errors; with `quiet` the messages are not also passed on to the root logger."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger, handler = logging.getLogger(logger_name), Collect(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = propagate and not quiet
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
