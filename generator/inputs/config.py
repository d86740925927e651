"""The portal's configuration (mkdocs.yml): read leniently, its site address and language."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from memberportal.core.models import LANGUAGES
from memberportal.errors import InputError, Where
from memberportal.layout import CONFIG_FILE


class _Lenient(yaml.SafeLoader):
    """Reads mkdocs.yml for a few plain settings, ignoring !!python/name and !ENV tags."""


_Lenient.add_multi_constructor("", lambda loader, suffix, node: None)


def read_config(root: Path) -> dict:
    """mkdocs.yml as plain data (tags ignored), for the settings this tool needs first."""
    path = root / CONFIG_FILE
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Lenient)
    except FileNotFoundError:
        raise InputError(f"no {CONFIG_FILE}: the portal needs one (site_name, site_url, "
                         "theme material)", Where(CONFIG_FILE)) from None
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", -1) + 1
        raise InputError(f"cannot read: {e}", Where(CONFIG_FILE, line)) from None
    if not isinstance(data, dict):
        raise InputError("must be a mapping of settings", Where(CONFIG_FILE))
    return data


def site_url(root: Path) -> str:
    """The public address of the portal (mkdocs.yml site_url), ending in '/'."""
    url = read_config(root).get("site_url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if not parts or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError("site_url must be the portal's full address, e.g. "
                         "https://member.example.com/ (QR codes and printed links use it)",
                         Where(CONFIG_FILE), field="site_url")
    return url.rstrip("/") + "/"


def language(root: Path) -> str:
    theme = read_config(root).get("theme")
    lang = theme.get("language", "zh") if isinstance(theme, dict) else "zh"
    return lang if lang in LANGUAGES else "zh"
