"""The portal's configuration (mkdocs.yml): read leniently, its site address and language."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from memberportal.core.models import LANGUAGES
from memberportal.errors import InputError, Where, worded
from memberportal.layout import CONFIG_FILE, EXAMPLE, PROGRAM_FILE


class _Lenient(yaml.SafeLoader):
    """Reads mkdocs.yml for a few plain settings, ignoring !!python/name and !ENV tags."""


_Lenient.add_multi_constructor("", lambda loader, suffix, node: None)


def read_config(root: Path) -> dict:
    """mkdocs.yml as plain data (tags ignored), for the settings this tool needs first."""
    path = root / CONFIG_FILE
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Lenient)
    except FileNotFoundError:
        raise InputError(**worded("error.no_config", file=CONFIG_FILE),
                         where=Where(CONFIG_FILE)) from None
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", -1) + 1
        raise InputError(**worded("error.cannot_read", why=str(e)),
                         where=Where(CONFIG_FILE, line)) from None
    if not isinstance(data, dict):
        raise InputError(**worded("error.config_mapping"), where=Where(CONFIG_FILE))
    return data


def site_url(root: Path) -> str:
    """The public address of the portal (mkdocs.yml site_url), ending in '/'."""
    url = read_config(root).get("site_url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if not parts or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(**worded("error.site_url"), where=Where(CONFIG_FILE), field="site_url")
    return url.rstrip("/") + "/"


def language(root: Path) -> str:
    """The brand's one language setting, mkdocs.yml theme.language (what Material reads): the
    portal, personal pages, prints and the staff report speak it; zh without a mkdocs.yml."""
    if not (root / CONFIG_FILE).is_file():
        return "zh"
    theme = read_config(root).get("theme")
    lang = theme.get("language", "zh") if isinstance(theme, dict) else "zh"
    return lang if lang in LANGUAGES else "zh"


EXAMPLE_MARK = "memberportal_example"  # extra.memberportal_example: true in the example's config


def _example_brand() -> tuple[str | None, str | None]:
    """The example brand's name and site address, as the installed package has them."""
    try:
        program = yaml.safe_load((EXAMPLE / PROGRAM_FILE).read_text(encoding="utf-8"))
        url = read_config(EXAMPLE).get("site_url")
        return program["brand"]["name"], urlsplit(url).netloc if isinstance(url, str) else None
    except (OSError, yaml.YAMLError, KeyError, TypeError, InputError):
        return None, None


def is_example(root: Path, brand_name: str) -> bool:
    """The example brand itself (or a copy made to learn from): marked, and still its name."""
    if not (root / CONFIG_FILE).is_file():
        return False
    extra = read_config(root).get("extra")
    marked = isinstance(extra, dict) and extra.get(EXAMPLE_MARK) is True
    return marked and brand_name == _example_brand()[0]


def brand_errors(root: Path, brand_name: str, address_only: bool = False) -> list[InputError]:
    """The brand lives in members/tiers.yml: mkdocs.yml may not contradict it, and a project
    that is not the example may not keep the example's name or address (`address_only`: the
    address, which every printed QR code carries). Without mkdocs.yml there is nothing to
    compare (the build refuses a project without one)."""
    if not (root / CONFIG_FILE).is_file():
        return []
    config = read_config(root)
    errors: list[InputError] = []
    site_name = config.get("site_name")
    if not address_only and isinstance(site_name, str) and brand_name not in site_name:
        errors.append(InputError(
            **worded("error.site_name", name=site_name, file=PROGRAM_FILE, brand=brand_name),
            where=Where(CONFIG_FILE), field="site_name"))
    if is_example(root, brand_name):
        return errors
    example_name, example_host = _example_brand()
    copyright_ = config.get("copyright")
    if address_only:
        pass
    elif example_name and isinstance(copyright_, str) and example_name in copyright_:
        errors.append(InputError(**worded("error.example_copyright", name=example_name),
                                 where=Where(CONFIG_FILE), field="copyright"))
    if not address_only and example_name and brand_name == example_name:
        errors.append(InputError(**worded("error.example_name", name=example_name),
                                 where=Where(PROGRAM_FILE), field="brand.name"))
    url = config.get("site_url")
    if example_host and isinstance(url, str) and urlsplit(url).netloc == example_host:
        errors.append(InputError(**worded("error.example_url", url=url),
                                 where=Where(CONFIG_FILE), field="site_url"))
    return errors
