"""The web app's message catalogue: every string a person reads has Thai, placeholders intact; no service imports."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from babel.messages.pofile import read_po

from services.web import i18n
from shared import i18n as shared_i18n
from shared import labels as shared_labels

WEB = Path(i18n.__file__).parent
CATALOGUES = [shared_i18n.SHARED_DIR, WEB / "i18n", Path(__file__).parents[2] / "services" / "tracker" / "i18n"]


def _po_files():
    return [path for folder in CATALOGUES for path in sorted(folder.glob("*.po"))]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def test_every_message_has_thai():
    """Each message id used in the web app's code and templates has a Thai translation in some .po file."""
    missing = i18n.untranslated()
    assert not missing, "no Thai for: " + "; ".join(f"{m!r} ({w[0]})" for m, w in list(missing.items())[:20])


def test_placeholders_survive_translation():
    """A translation keeps every %(name)s of its message id, so formatting never fails or drops a value."""
    for path in _po_files():
        with path.open("rb") as f:
            for message in read_po(f, locale="th"):
                if not message.id:
                    continue
                ids = message.id if isinstance(message.id, tuple) else (message.id,)
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                wanted = set(PLACEHOLDER.findall(ids[-1]))
                for string in strings:
                    assert set(PLACEHOLDER.findall(string)) == wanted, (path.name, message.id, string)


def test_one_thai_per_message():
    """A message translated in two area files has the same Thai in both (the first file would win silently)."""
    seen = {}
    for path in _po_files():
        with path.open("rb") as f:
            for message in read_po(f, locale="th"):
                if message.id and message.string:
                    first = seen.setdefault(message.id, (path.name, message.string))
                    assert first[1] == message.string, (message.id, first, (path.name, message.string))


def test_shared_labels_have_thai():
    """Every name of an API code in shared/labels.py has Thai in the shared catalogue (web pages and PDFs use it)."""
    names = [english for name, table in vars(shared_labels).items() if name.isupper() and isinstance(table, dict)
             for english in table.values()]
    assert len(names) > 20
    assert shared_i18n.Translator().missing(names) == []
    assert shared_i18n.Translator()("Project") == "โครงการ"


def test_web_imports_neither_service():
    """The web app is a client of the APIs: it imports shared/ and its own modules, never the services' code."""
    for path in WEB.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                assert not name.startswith(("services.submission", "services.tracker")), (path, name)


def test_tracker_documents_have_thai():
    """Every message the tracker's PDFs and CSVs print (the t("...") calls, the event types' names and the CSV columns)
    has Thai in the shared or the tracker's catalogue."""
    from babel.messages.extract import extract_from_file

    from services.tracker import documents, public_api

    tracker = Path(documents.__file__).parent
    used = [message for module in ("documents.py", "public_api.py")
            for _line, message, _comments, _context in extract_from_file("python", tracker / module,
                                                                         keywords={"t": None})]
    used += list(shared_labels.EVENT_TYPES.values()) + [label for _key, label in public_api.PLAN_COLUMNS + public_api.REPORT_COLUMNS]
    assert len(used) > 60
    translate = shared_i18n.Translator(documents.CATALOGUE)
    assert translate.missing(used) == []
    assert translate("Page %(page)s of %(pages)s", page=1, pages=2) == "หน้า 1/2"


def test_reminder_and_digest_mails_have_thai():
    """Every message the reminder scheduler and the escalation digests write (their t("...") calls) has Thai in the
    shared catalogues."""
    from babel.messages.extract import extract_from_file

    from services.submission import digests

    submission = Path(digests.__file__).parent
    used = [message for module in ("reminders.py", "digests.py")
            for _line, message, _comments, _context in extract_from_file("python", submission / module,
                                                                         keywords={"t": None})]
    from shared import labels
    assert len(used) >= 8
    assert shared_i18n.Translator().missing(used + list(labels.ROUNDS.values())) == []
