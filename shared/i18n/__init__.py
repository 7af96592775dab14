"""Message catalogues, Thai first: ``.po`` files merged into one catalogue, and a translator for code outside Flask.

Message ids are English (the second language, needing no catalogue). ``shared/i18n/*.po`` holds the Thai every
part of the system shares (the names of the API's codes, ``shared.labels``); each service adds its own folder.
"""
from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path

from babel.dates import get_month_names
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from ..fiscal import BANGKOK, BE_OFFSET

SHARED_DIR = Path(__file__).parent


def be_date(instant: datetime, language: str = "th", *, time: bool = False, long: bool = False) -> str:
    """An instant in Bangkok time with its Buddhist Era year: ``30 เม.ย. 2564``, with ``time``:
    ``30 เม.ย. 2564 23:59 น.``; ``long`` spells the month out. English: ``30 Apr 2564 BE, 23:59``."""
    local = instant.astimezone(BANGKOK)
    months = get_month_names("wide" if long else "abbreviated", locale=language)
    year = local.year + BE_OFFSET
    if language == "th":
        text = f"{local.day} {months[local.month]} {year}"
        return f"{text} {local:%H:%M} น." if time else text
    text = f"{local.day} {months[local.month]} {year} BE"
    return f"{text}, {local:%H:%M}" if time else text


def merged_catalogue(*sources: Path) -> Catalog:
    """Every ``*.po`` file of the folders, in order, in one Thai catalogue (a message in two files: the first's)."""
    merged = Catalog(locale="th", domain="messages")
    for source in sources:
        for path in sorted(Path(source).glob("*.po")):
            with path.open("rb") as f:
                part = read_po(f, locale="th")
            for message in part:
                translated = all(message.string) if isinstance(message.string, tuple) else bool(message.string)
                if message.id and merged.get(message.id) is None and translated and not message.fuzzy:
                    merged.add(message.id, message.string)
    return merged


class Translator:
    """``gettext`` over merged catalogues for one language: Thai from the catalogue, English as written."""

    def __init__(self, *sources: Path, language: str = "th"):
        self.language = language
        self._thai = {m.id: m.string for m in merged_catalogue(SHARED_DIR, *sources) if m.id}

    def __call__(self, message: str, **values) -> str:
        text = self._thai.get(message, message) if self.language == "th" else message
        return text % values if values else text

    def missing(self, messages) -> list[str]:
        """The messages that have no Thai."""
        return [m for m in messages if m not in self._thai]


@functools.cache
def translator(*sources: Path, language: str = "th") -> Translator:
    """One translator per set of folders and language, per process."""
    return Translator(*sources, language=language)
