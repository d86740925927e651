"""Fuzzing member files: whatever the bytes, the loader answers with errors, never a traceback."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from helpers import dump, member, order
from helpers import program as example_program
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberportal.core.models import Program
from memberportal.core.rules import evaluate
from memberportal.errors import MemberPortalError
from memberportal.inputs.project import load_members

PROGRAM = Program.model_validate(example_program())
AS_OF = date(2026, 11, 24)
VALID = dump(member(orders=[order("O1", "2026-01-02", 100)], children=[{"birthday": "2024-02-29"}],
                    activities=[{"type": "checkin", "date": "2026-03-01"}]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20), st.dates())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=25)
fields = st.sampled_from(["id", "name", "phone", "joined", "birthday", "children", "orders",
                          "activities", "redemptions", "referrals", "profile", "role", "consent",
                          "tier_override", "segments", "region", "extra"])


def load_text(folder: Path, raw: bytes) -> None:
    path = folder / "members" / "fuzz.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    members, where, errors = load_members(folder, PROGRAM, [path])
    assert all(isinstance(e, MemberPortalError) and e.where and e.where.file for e in errors)
    assert members or errors
    refused = {e.member for e in errors}
    for m in members:  # what the build evaluates at once: those without an error of their own
        if m.id not in refused:
            try:
                evaluate(m, PROGRAM, AS_OF, frozenset(), where[m.id], 0)
            except MemberPortalError:
                pass


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(tmp_path, raw):
    load_text(tmp_path, raw)


@SETTINGS
@given(st.data())
def test_mutated_valid_member(tmp_path, data):
    text = bytearray(VALID.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        byte = data.draw(st.sampled_from(list(b":-[]{}&*!|>'\"#%@` \n\t0aZ\xe7\x8e\x8b")))
        if op == "delete":
            del text[pos]
        elif op == "insert":
            text.insert(pos, byte)
        else:
            text[pos] = byte
    load_text(tmp_path, bytes(text))


TOKENS = ["!!int ", "!!float ", "!!bool ", "!!null ", "!!timestamp ", "!!str ", "!!binary ",
          "!custom ", "&a ", "*a", "<<: ", "? ", "--- ", "\t", "\ufeff", "%YAML 1.1\n"]


@SETTINGS
@given(st.data())
def test_yaml_tokens_inserted_into_a_valid_member(tmp_path, data):
    # Tags, anchors, merge keys and directives where values stand: `!!bool` before a name or
    # `!!int` before nothing made PyYAML's constructors raise KeyError and IndexError.
    text = VALID
    for _ in range(data.draw(st.integers(1, 3))):
        starts = [i + 2 for i in range(len(text) - 1) if text[i:i + 2] == ": "] or [0]
        pos = data.draw(st.sampled_from(starts + [0, len(text)]))
        text = text[:pos] + data.draw(st.sampled_from(TOKENS)) + text[pos:]
    load_text(tmp_path, text.encode())


@SETTINGS
@given(st.dictionaries(fields, values, max_size=8))
def test_random_structures(tmp_path, record):
    load_text(tmp_path, dump({**member(), **record}).encode())
