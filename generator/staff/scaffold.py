"""`memberportal init`: a new brand project copied from the example, checked, then moved in."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from memberportal.errors import InputError
from memberportal.inputs.project import load, load_members, load_program
from memberportal.layout import EXAMPLE, PROGRAM_FILE, rel

# What a new project gets, by name: whatever of these the example has.
EXAMPLE_FILES = ("mkdocs.yml", ".gitignore", PROGRAM_FILE)
EXAMPLE_TREES = ("content", "templates")
SAMPLE_MEMBERS = ("M0001", "M0002", "M0003", "M0004", "M0005", "M0006")
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")


def sample_member_files(example: Path) -> list[Path]:
    """The sample members' files: one member each, referring only to other samples."""
    program, errors = load_program(example)
    members, where, member_errors = load_members(example, program)
    if errors or member_errors:
        raise InputError(f"the example project in {example} is not valid; run "
                         f"`memberportal -C {example} check`")
    per_file = Counter(w.file for w in where.values())
    chosen = [m for m in members if m.id in SAMPLE_MEMBERS and per_file[where[m.id].file] == 1]
    ids = {m.id for m in chosen}
    return sorted(example / where[m.id].file for m in chosen if set(m.referrals) <= ids)


def init_project(target: Path, example: Path = EXAMPLE) -> list[str]:
    """Create the project in `target` (new or empty); returns what was copied."""
    target = target.absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} is not empty; `memberportal init` makes a new project in a "
                         "new or empty folder")
    if not (example / PROGRAM_FILE).is_file():
        raise InputError(f"the example project is missing from the installed package "
                         f"({example}); reinstall memberportal")
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}-init-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; a project folder is not
    copied: list[str] = []
    try:
        for name in EXAMPLE_FILES:
            if (example / name).is_file():
                (stage / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(example / name, stage / name)
                copied.append(name)
        for name in EXAMPLE_TREES:
            if (example / name).is_dir():
                shutil.copytree(example / name, stage / name, ignore=_JUNK)
                copied.append(name + "/")
        for path in sample_member_files(example):
            dest = stage / path.relative_to(example)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
            copied.append(rel(path, example))
        load(stage, cache=False)  # the new project must be valid before it appears
        if target.exists():
            target.rmdir()
        os.rename(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return copied
