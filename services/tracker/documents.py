"""The public documents and receipts as PDF a Thai office can publish: A4, Thai shaped, signed (PAdES).

fpdf2 lays the pages out with HarfBuzz shaping (uharfbuzz), so stacked vowels and tone marks sit where Thai
readers expect them, in Laksaman (Debian's fonts-thai-tlwg, the free TH Sarabun). Every page carries the
document's version and hash; the first a QR code of its public verification address. pyHanko then signs the
file with the service's document key, so a PDF reader shows who issued it and that it is unchanged.

Every string a reader sees comes from ``services/tracker/i18n/documents.po`` and the shared labels (Thai).
"""
from __future__ import annotations

import functools
import io
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import icu
import segno
from fpdf import FPDF
from fpdf.fonts import TTFFont
from fpdf.output import OutputProducer

from shared import labels
from shared.errors import DocumentUnavailableError
from shared.fiscal import parse_instant
from shared.i18n import be_date, translator

CATALOGUE = Path(__file__).parent / "i18n"
FONT_FILES = {"": "Laksaman.ttf", "B": "Laksaman-Bold.ttf"}
FONT = "thai"


def _t():
    return translator(CATALOGUE)


class _NoText(tuple):
    """A glyph's text when HarfBuzz split one character into several glyphs (SARA AM into NIKHAHIT and SARA AA):
    the first glyph carries the character, the others map to nothing. fpdf2 2.8.9 leaves such glyphs out of the
    ToUnicode map, so copying or extracting the text gave a stray character instead."""

    def __len__(self):
        return 1


class _Producer(OutputProducer):
    def _add_fonts(self, *args, **kwargs):
        for font in self.fpdf.fonts.values():
            if isinstance(font, TTFFont):
                for glyph, _code in font.subset.items():
                    if glyph is not None and glyph.unicode == ():
                        glyph.unicode = _NoText()
        return super()._add_fonts(*args, **kwargs)


_BREAKS = threading.local()       # ICU's break iterators are not thread-safe: one pair per thread


def _iterators():
    if not hasattr(_BREAKS, "line"):
        thai = icu.Locale("th")
        _BREAKS.line = icu.BreakIterator.createLineInstance(thai)
        _BREAKS.chars = icu.BreakIterator.createCharacterInstance(thai)
    return _BREAKS.line, _BREAKS.chars


def _pieces(iterator, text: str) -> list[str]:
    iterator.setText(text)
    bounds = [0, *iterator]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def wrap(text: str, width: float, measure) -> str:
    """Text broken into lines no wider than ``width`` where Thai allows a break: between words, found by ICU's
    dictionary (Thai is written without spaces), else between character clusters, never inside one. Each piece
    is measured once and a line's width is the sum of its pieces' (no shaping joins two Thai words)."""
    line_breaks, clusters = _iterators()
    widths: dict[str, float] = {}

    def size(piece: str) -> float:
        if piece not in widths:
            widths[piece] = measure(piece)
        return widths[piece]

    lines = []
    for paragraph in str(text).split("\n"):
        line, used = "", 0.0
        for piece in _pieces(line_breaks, paragraph):
            if used + size(piece.rstrip()) <= width:
                line, used = line + piece, used + size(piece)
                continue
            if line.strip():
                lines.append(line.rstrip())
            line, used = "", 0.0
            for cluster in (_pieces(clusters, piece) if size(piece.rstrip()) > width else [piece]):
                if line and used + size(cluster.rstrip()) > width:
                    lines.append(line.rstrip())
                    line, used = "", 0.0
                line, used = line + cluster, used + size(cluster)
        lines.append(line.rstrip())
    return "\n".join(lines)


def money(value) -> str:
    """Baht with thousands grouped and two decimals; empty stays empty."""
    if value in (None, ""):
        return ""
    return f"{Decimal(str(value)):,.2f}"


def when(text: str | None, *, time: bool = True) -> str:
    """An instant of the log in Bangkok time with its Buddhist Era year, month spelled out."""
    return be_date(parse_instant(text), time=time, long=True) if text else ""


class _Page(FPDF):
    """A4 with the document's provenance in the footer and page numbers."""

    def __init__(self, orientation: str, footer_text: str, font_dir: str):
        super().__init__(orientation=orientation, unit="mm", format="A4")
        self.footer_text = footer_text
        for style, name in FONT_FILES.items():
            path = Path(font_dir) / name
            if not path.exists():
                raise DocumentUnavailableError(
                    f"the Thai font {name} is not installed in {font_dir} (Debian: apt-get install fonts-thai-tlwg; "
                    "scripts/bootstrap installs it when run as root), so no PDF can be made now")
            self.add_font(FONT, style, str(path))
        self.set_text_shaping(True)
        self.set_auto_page_break(True, margin=16)
        self.set_margins(12, 12, 12)
        self.alias_nb_pages()

    def footer(self):
        t = _t()
        self.set_y(-12)
        self.set_font(FONT, "", 10)
        self.set_text_color(90)
        self.cell(0, 5, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, t("Page %(page)s of %(pages)s", page=self.page_no(), pages="{nb}"), align="R")
        self.set_text_color(0)

    def wrapped(self, text: str, width: float) -> str:
        """``text`` broken into lines of ``width`` mm in the current font (see ``wrap``)."""
        return wrap(text, width - 0.5, self.get_string_width)

    def heading(self, text: str, size: int = 18):
        self.set_font(FONT, "B", size)
        self.multi_cell(0, size * 0.45, self.wrapped(text, self.epw), align="C", new_x="LMARGIN", new_y="NEXT")

    def line_of(self, text: str, size: int = 14, style: str = "", width: float | None = None):
        self.set_font(FONT, style, size)
        width = width or self.epw
        self.multi_cell(width, size * 0.42, self.wrapped(text, width), align="L", new_x="LMARGIN", new_y="NEXT")


def _qr_png(url: str) -> io.BytesIO:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=4, border=1)
    out.seek(0)
    return out


def _provenance(pdf: _Page, stamp: dict, verify_url: str):
    """The box that says which event of the log the document is, with the QR code of its verification."""
    t = _t()
    top = pdf.get_y() + 2
    size = 26
    pdf.image(_qr_png(verify_url), x=pdf.w - pdf.r_margin - size, y=top, w=size, h=size)
    pdf.set_xy(pdf.l_margin, top)
    width = pdf.w - pdf.l_margin - pdf.r_margin - size - 4
    lines = [
        t("Rendered from the unit's log at version %(version)s, recorded %(at)s.",
          version=stamp["version"], at=when(stamp["recorded_at"])),
        t("Event hash (SHA-256): %(hash)s", hash=stamp["hash"]),
        t("Check that this document is what was recorded: scan the code or open %(url)s", url=verify_url),
    ]
    for line in lines:
        pdf.line_of(line, 12, width=width)
    pdf.set_y(max(pdf.get_y(), top + size) + 3)


def _unit_lines(pdf: _Page, doc: dict):
    t = _t()
    kind = labels.UNIT_KINDS.get(doc.get("kind"), doc.get("kind") or "")
    place = ", ".join(x for x in (t(kind) if kind else "", doc.get("province") or "") if x)
    code = t("unit code %(code)s", code=doc["unit"])
    pdf.line_of(f"{doc['name_th']} ({code})" + (f" · {place}" if place else ""), 15, "B")


PADDING = 1.2


def _table(pdf: _Page, widths, header, groups, *, size: int = 12):
    """A table over the page's width with a header repeated on every page; ``groups`` is a list of
    (heading or None, rows). ``widths`` are in mm and add up to the page's width between the margins."""
    room = [w - 2 * PADDING for w in widths]
    pdf.set_font(FONT, "B", size)
    header = [pdf.wrapped(title, w) for title, w in zip(header, room)]
    pdf.set_font(FONT, "", size)
    with pdf.table(col_widths=widths, width=sum(widths), text_align="LEFT", line_height=size * 0.45,
                   padding=PADDING, first_row_as_headings=True, repeat_headings=1) as table:
        row = table.row()
        for title in header:
            row.cell(title)
        for heading, rows in groups:
            if heading:
                row = table.row()
                row.cell(pdf.wrapped(heading, sum(widths) - 2 * PADDING), colspan=len(widths))
            for cells in rows:
                row = table.row()
                for cell, w in zip(cells, room):
                    row.cell(pdf.wrapped(cell, w) if cell not in (None, "") else "")


def _dimension_groups(rows: list[dict], render_row) -> list:
    """Rows grouped under a heading for each new dimension and sub-dimension, in the plan's order."""
    t = _t()
    groups, last_dim, last_sub, number = [], None, None, 0
    for row in rows:
        heading = []
        if row.get("dimension") != last_dim:
            last_dim, last_sub = row.get("dimension"), None
            heading.append(t("Dimension %(number)s %(name)s", number=row.get("dimension"),
                             name=row.get("dimension_name_th") or ""))
        if row.get("sub_dimension") != last_sub:
            last_sub = row.get("sub_dimension")
            heading.append(f"{row.get('sub_dimension')} {row.get('sub_dimension_name_th') or ''}")
        number += 1
        cells = render_row(number, row)
        if heading:
            groups.append((" · ".join(h.strip() for h in heading), [cells]))
        else:
            groups[-1][1].append(cells)
    return groups


def _with_files(name: str, row: dict) -> str:
    """An item's name, with the files the unit published with it (their names and the start of their SHA-256)."""
    files = row.get("evidence") or []
    if not files:
        return name
    listed = "; ".join(f"{f['name']} ({f['sha256'][:12]})" for f in files)
    return f"{name}\n{_t()('Evidence: %(files)s', files=listed)}"


def _footer(doc: dict, stamp: dict) -> str:
    t = _t()
    return t("%(unit)s · FY %(fy)s · version %(version)s · hash %(hash)s",
                unit=doc["unit"], fy=doc["fiscal_year"], version=stamp["version"], hash=(stamp["hash"] or "")[:16])


def plan_pdf(doc: dict, verify_url: str, font_dir: str) -> bytes:
    """The plan in force for the year, in NACC's layout: a table by dimension and sub-dimension."""
    t = _t()
    plan = doc["plan"]
    pdf = _Page("L", _footer(doc, plan), font_dir)
    pdf.add_page()
    pdf.heading(t("Anti-corruption action plan, fiscal year %(fy)s", fy=doc["fiscal_year"]))
    _unit_lines(pdf, doc)
    pdf.line_of(t("%(title)s (plan for fiscal years %(first)s-%(last)s)", title=plan["title"],
                  first=plan["first_fiscal_year"], last=plan["last_fiscal_year"]))
    _provenance(pdf, plan, verify_url)
    if not plan["items"]:
        pdf.line_of(t("The plan has no items scheduled in this fiscal year."))
    else:
        header = [t("No."), t("Project / activity / measure"), t("Kind"),
                  t("Budget FY %(fy)s (baht)", fy=doc["fiscal_year"]), t("Responsible division"), t("Indicators"),
                  t("Targets"), t("Remarks")]

        def render(number, item):
            return [str(number), _with_files(item["name"], item), t(labels.KINDS.get(item["kind"], item["kind"])),
                    money(item["budget"]),
                    item.get("responsible"), item.get("indicators"), item.get("targets"), item.get("remarks")]

        _table(pdf, (9, 70, 20, 26, 34, 40, 40, 34), header, _dimension_groups(plan["items"], render))
        pdf.ln(2)
        pdf.line_of(t("Total budget for fiscal year %(fy)s: %(amount)s baht (%(count)s items)",
                      fy=doc["fiscal_year"], amount=money(plan["total_budget"]), count=len(plan["items"])), 14, "B")
    return _sign_ready(pdf)


def report_pdf(doc: dict, round_: int, verify_url: str, font_dir: str) -> bytes:
    """The round's monitoring report: per item what was done, the money, problems and suggestions."""
    t = _t()
    report = doc["reports"][str(round_)]
    pdf = _Page("L", _footer(doc, report), font_dir)
    pdf.add_page()
    pdf.heading(t("Report on the anti-corruption action plan, %(round)s, fiscal year %(fy)s",
                  round=t(labels.ROUNDS[round_]), fy=doc["fiscal_year"]))
    _unit_lines(pdf, doc)
    timing = t("on time") if report["on_time"] else t("late")
    pdf.line_of(t("First sent %(first)s (%(timing)s; due %(due)s). Corrected %(count)s times; this is the version "
                  "of %(latest)s.", first=when(report["first_submitted_at"]), timing=timing,
                  due=when(report["due_at"]), count=report["amendments"], latest=when(report["submitted_at"])))
    _provenance(pdf, report, verify_url)
    header = [t("No."), t("Item"), t("Status"), t("Budget (baht)"), t("Outputs"), t("Outcomes"),
              t("Problems and obstacles"), t("Suggestions")]

    def render(number, entry):
        status = t(labels.ITEM_STATUSES.get(entry["status"], entry["status"]))
        if entry.get("reason"):
            status += " (" + (entry.get("reason_text") if entry["reason"] == "other" and entry.get("reason_text")
                              else t(labels.REASONS.get(entry["reason"], entry["reason"]))) + ")"
        budget = "\n".join(f"{t(label)} {money(entry.get(key)) or '-'}" for key, label in (
            ("budget_planned", "In the plan:"), ("budget_ordinance", "In the ordinance:"), ("spent", "Disbursed:")))
        return [str(number), _with_files(entry.get("name") or entry["item_id"], entry), status, budget, entry.get("outputs"),
                entry.get("outcomes"), entry.get("problems") or t("None"), entry.get("suggestions") or t("None")]

    _table(pdf, (9, 56, 30, 44, 35, 35, 32, 32), header, _dimension_groups(report["entries"], render))
    pdf.ln(2)
    pdf.line_of(t("%(done)s of %(count)s items completed.", done=report["completed_items"],
                  count=len(report["entries"])), 14, "B")
    if report.get("note"):
        pdf.line_of(t("Note: %(note)s", note=report["note"]))
    return _sign_ready(pdf)


def receipt_pdf(receipt: dict, unit: dict, verify_url: str, keys_url: str, font_dir: str) -> bytes:
    """One page that proves what a unit filed and when: the signed receipt, readable and checkable."""
    t = _t()
    stamp = {"version": receipt["version"], "hash": receipt["hash"], "recorded_at": receipt["recorded_at"]}
    pdf = _Page("P", t("Receipt · %(unit)s · version %(version)s", unit=receipt["stream"],
                       version=receipt["version"]), font_dir)
    pdf.add_page()
    pdf.heading(t("Receipt of a record in the anti-corruption action plan system"))
    if unit.get("name_th"):
        code = t("unit code %(code)s", code=receipt["stream"])
        pdf.line_of(f"{unit['name_th']} ({code})", 15, "B")
    _provenance(pdf, stamp, verify_url)
    rows = [(t("What was recorded"), t(labels.EVENT_TYPES.get(receipt["type"], receipt["type"]))),
            (t("Recorded at"), when(receipt["recorded_at"])), (t("Version in the unit's log"), str(receipt["version"])),
            (t("Event id"), receipt["event_id"]), (t("Event hash (SHA-256)"), receipt["hash"]),
            (t("Signing key"), receipt["key_id"]), (t("Signature (Ed25519)"), receipt["signature"])]
    _table(pdf, (55, 131), [t("Field"), t("Value")], [(None, [list(r) for r in rows])], size=13)
    pdf.ln(3)
    pdf.line_of(t("The signature covers every field above. Anyone can check it with the public keys at %(url)s, "
                  "or offline: python -m shared.offline receipt.json --key keys.json", url=keys_url), 12)
    return _sign_ready(pdf)




def _sign_ready(pdf: _Page) -> bytes:
    return bytes(pdf.output(output_producer_class=_Producer))


@functools.lru_cache(maxsize=4)
def _signer(key_pem: str, cert_pem: str):
    from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    cert = next(iter(load_certs_from_pemder_data(cert_pem.encode("ascii"))))
    key = load_private_key_from_pemder_data(key_pem.encode("ascii"), passphrase=None)
    return signers.SimpleSigner(signing_cert=cert, signing_key=key,
                                cert_registry=SimpleCertificateStore.from_certs([cert]))


def sign(pdf: bytes, keyring, *, reason: str, at: datetime | None = None) -> bytes:
    """The PDF signed (PAdES baseline, SHA-256) with the service's document key, as an incremental update."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    t = _t()
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(field_name="Signature", md_algorithm="sha256", reason=reason,
                                        location=t("Thailand"), subfilter=fields.SigSeedSubFilter.PADES,
                                        name=t("NACC action plans: public documents"))
    out = signers.sign_pdf(writer, meta, signer=_signer(keyring.document_key_pem, keyring.document_cert_pem),
                           timestamper=None, existing_fields_only=False)
    return out.getvalue()
