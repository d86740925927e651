"""Validation errors as people read them: pydantic's errors with file, line, field and member."""
from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from memberportal.core.models import Record
from memberportal.errors import InputError, Worded
from memberportal.inputs.safe_yaml import Document


def _describe(err: dict) -> tuple[str, list[tuple[str, dict]]]:
    """pydantic's error in English, and as catalogue entries (valid.<kind>): the command line
    says it in its language where the catalogue words that kind."""
    kind, msg = err["type"], err["msg"]
    if kind == "missing":
        return "required field is missing", [("valid.missing", {})]
    if kind in ("value_error", "assertion_error"):
        msg = msg.removeprefix("Value error, ")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, Worded):
            return _given(err, cause.message, list(cause.said))
    ctx = {k: str(v) for k, v in (err.get("ctx") or {}).items()}
    if "expected" in ctx:  # "'a', 'b' or 'c'"
        ctx["expected"] = ctx["expected"].replace(" or ", "、").replace(", ", "、")
    return _given(err, msg, [(f"valid.{kind}", ctx)])


def _given(err: dict, msg: str, said: list) -> tuple[str, list[tuple[str, dict]]]:
    """The message with the value that was given, where it is short text or a number."""
    given = err.get("input")
    if isinstance(given, (str, int, float)) and not isinstance(given, bool):
        shown = repr(given) if len(repr(given)) < 60 else repr(given)[:57] + "..."
        return f"{msg} (got {shown})", [*said, ("valid.got", {"given": shown})]
    return msg, said


def validation_errors(exc: ValidationError, doc: Document, prefix: tuple,
                      model: type[BaseModel], member: str | None) -> list[InputError]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"])
        path = prefix + loc
        message, said = _describe(err)
        if err["type"] == "extra_forbidden":
            known = _known_fields(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            message = (f"unknown field '{loc[-1]}'" +
                       (f"; did you mean '{close[0]}'?" if close else
                        f"; known fields: {', '.join(known)}" if known else ""))
            said = [("valid.extra_forbidden", {"name": loc[-1]})]
            if close:
                said.append(("valid.did_you_mean", {"close": close[0]}))
            elif known:
                said.append(("valid.known_fields", {"known": "、".join(known)}))
        # pydantic adds the union member's type name to a loc; keep the document's path only.
        shown = ".".join(str(p) for p in loc if _in_doc(doc, prefix + loc[:loc.index(p) + 1]))
        out.append(InputError(message, doc.where(path), field=shown or None, member=member,
                              said=said))
    return out


def _in_doc(doc: Document, path: tuple) -> bool:
    return path in doc.lines or isinstance(path[-1], int)


def _known_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names allowed at `loc` inside `model` (for 'did you mean')."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return []
        current = _record_type(info.annotation)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _record_type(annotation: Any) -> type[Record] | None:
    if isinstance(annotation, type) and issubclass(annotation, Record):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _record_type(arg)
        if found:
            return found
    return None
