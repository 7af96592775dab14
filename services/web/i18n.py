"""Thai first: the message catalogue, kept as one ``.po`` file per area of the app and compiled at start.

Message ids are English (English is the second language and needs no catalogue); every Thai string a
person reads is a translation in ``services/web/i18n/*.po``. The files are merged and compiled into a
private directory when the app starts, so there is no compiled file to forget to rebuild.
"""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import request

from shared import i18n as shared_i18n

SOURCE_DIR = Path(__file__).parent / "i18n"
LANGUAGES = ("th", "en")
DEFAULT_LANGUAGE = "th"
COOKIE = "lang"


def merged_catalogue(source: Path = SOURCE_DIR) -> Catalog:
    """The shared names of the API's codes, then every ``*.po`` file of the app, in one Thai catalogue."""
    return shared_i18n.merged_catalogue(shared_i18n.SHARED_DIR, source)


@functools.cache
def compile_catalogues(source: Path = SOURCE_DIR) -> str:
    """Compile the merged catalogue into a private directory, once per process; its path for
    BABEL_TRANSLATION_DIRECTORIES."""
    target = Path(tempfile.mkdtemp(prefix="ncc-web-i18n-"))
    out = target / "th" / "LC_MESSAGES"
    out.mkdir(parents=True)
    with (out / "messages.mo").open("wb") as f:
        write_mo(f, merged_catalogue(source))
    return str(target)


def select_language() -> str:
    """The language the person chose (a cookie set by the switch), else Thai."""
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


APP_DIR = Path(__file__).parent
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def extracted(app_dir: Path = APP_DIR) -> dict[str, list[str]]:
    """Every message id the app's code and templates use -> where (``file:line``)."""
    from babel.messages.extract import extract_from_dir

    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(app_dir), METHODS, keywords=KEYWORDS, options_map={"**/templates/**.html": {
                "extensions": "jinja2.ext.do"}}):
        msgid = message[0] if isinstance(message, tuple) else message     # a plural is known by its singular
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def untranslated(app_dir: Path = APP_DIR) -> dict[str, list[str]]:
    """Message ids used by the app with no Thai translation in any ``.po`` file."""
    catalogue = merged_catalogue(app_dir / "i18n")
    return {msgid: where for msgid, where in extracted(app_dir).items() if catalogue.get(msgid) is None}


def _po_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


if __name__ == "__main__":
    # python -m services.web.i18n: list what still needs Thai, as .po entries ready to fill in
    for msgid, where in sorted(untranslated().items(), key=lambda kv: kv[1][0]):
        print(f"#: {' '.join(where[:3])}\nmsgid {_po_quote(msgid)}\nmsgstr \"\"\n")
