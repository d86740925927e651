"""Where things are: every path of a brand project; the example and templates in the package."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from memberportal.errors import InputError, worded

PACKAGE = Path(__file__).resolve().parent
# A wheel carries the example brand inside the package; in a source checkout the checkout is it.
EXAMPLE = PACKAGE / "example" if (PACKAGE / "example").is_dir() else PACKAGE.parent
BUILTIN_TEMPLATES = EXAMPLE / "templates"

# A brand project, relative to its root
CONFIG_FILE = "mkdocs.yml"
CONTENT_DIR = "content"
TEMPLATES_DIR = "templates"
MEMBERS_DIR = "members"
PROGRAM_FILE = "members/tiers.yml"
LEDGER = "members/redemptions.csv"
OUTPUT_DIR = "output"
SITE_DIR = "site"                       # output/site: the published site
PRIVATE_DIR = "m"                       # personal pages live in output/site/m/<token>/
PRINT_DIR = "output/print"
PREVIEW_DIR = "output/preview"
STAFF_DIR = "output/staff"
STATE_DIR = ".memberportal"             # git-ignored: secret, rotations, caches, snapshot
SECRET_FILE = "secret"
ROTATIONS_FILE = "rotations.yml"        # member id -> page generation; back it up with the secret
CACHE_DIR = ".memberportal/cache"
MANIFEST_FILE = "site-manifest.json"    # output/: next to site/, never inside it (every token)
SNAPSHOT_FILE = "last-build.json"


def rel(path: Path, root: Path) -> str:
    """A path as shown in messages: relative to the project when inside it.

    A path written under root (root / name, no '..') is cut without resolving, so it keeps
    the name it has in the project (also through a linked folder) and costs no look-up of
    every folder on both paths (100,000 member files: 5.6 s of a 13.5 s load)."""
    text, prefix = str(path), f"{root}{os.sep}"
    if text.startswith(prefix) and ".." not in text[len(prefix):].split(os.sep):
        return text[len(prefix):]
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def write_atomic(path: Path, data: bytes, private: bool = False) -> Path:
    """Write to a temporary file next to `path`, fsync, then rename: never a half-written file.

    `private`: readable by the owner only (0600), as the temporary file is made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a PDF is as readable as any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def find_root(start: Path | None = None) -> Path:
    """The project folder: the nearest folder upwards that holds members/tiers.yml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROGRAM_FILE).is_file():
            return folder
    raise InputError(**worded("error.no_project", file=PROGRAM_FILE, here=here))
