"""What a Thai reader expects on a page: Buddhist Era dates in Bangkok time, baht as typed and as shown."""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import get_locale, gettext, ngettext

from shared.fiscal import BANGKOK, BE_OFFSET, parse_instant
from shared.i18n import be_date

_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_MONEY = re.compile(r"^-?\d+(\.\d{1,2})?$")
_GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d{1,2})?$")
MAX_MONEY = Decimal("999999999999.99")


class MoneyError(ValueError):
    """What a person typed is not an amount of baht; the message says why, in the page's language."""


def parse_money(text: str | None) -> Decimal | None:
    """Baht as Thai users type it: ``50,000``, ``1,250.50``, ``50000``, ``5,000.-``, Thai digits, a trailing ``บาท``;
    empty gives None. Commas must group thousands; at most two decimals; never negative."""
    if text is None:
        return None
    cleaned = text.translate(_THAI_DIGITS).strip().replace("\u00a0", " ")
    cleaned = re.sub(r"\s*(บาท|฿|THB)\s*$", "", cleaned, flags=re.IGNORECASE)
    cleaned = re.sub(r"^(฿|THB)\s*", "", cleaned, flags=re.IGNORECASE).replace(" ", "")
    cleaned = re.sub(r"(?<=\d)\.-$", "", cleaned)     # "5,000.-": Thai forms' "no satang"
    if not cleaned:
        return None
    if "," in cleaned and not _GROUPED.match(cleaned):
        raise MoneyError(gettext("Commas may only separate thousands, e.g. 1,250,000.50."))
    cleaned = cleaned.replace(",", "")
    if not _MONEY.match(cleaned):
        if re.match(r"^-?\d+\.\d{3,}$", cleaned):
            raise MoneyError(gettext("Baht have at most two decimals (satang), e.g. 1,250.50."))
        raise MoneyError(gettext("Type an amount in baht with digits, e.g. 50,000 or 1,250.50."))
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:   # pragma: no cover - the pattern above admits only valid decimals
        raise MoneyError(gettext("Type an amount in baht with digits, e.g. 50,000 or 1,250.50.")) from None
    if amount < 0:
        raise MoneyError(gettext("The amount cannot be negative."))
    if amount > MAX_MONEY:
        raise MoneyError(gettext("The amount is too large."))
    return amount.quantize(Decimal("0.01"))


def money(value) -> str:
    """``50000`` or ``"50000.00"`` -> ``50,000.00``; empty stays empty."""
    if value in (None, ""):
        return ""
    try:
        return f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


def _language() -> str:
    locale = get_locale()
    return locale.language if locale else "th"


def _instant(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=BANGKOK)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=BANGKOK)
    try:
        return parse_instant(str(value))
    except ValueError:
        return None


def thai_date(value, *, time: bool = False, long: bool = False) -> str:
    """A date (or instant, shown in Bangkok time) with its Buddhist Era year: ``30 เม.ย. 2564``, with
    ``time``: ``30 เม.ย. 2564 23:59 น.``. English pages get ``30 Apr 2564 BE``."""
    instant = _instant(value)
    if instant is None:
        return "" if value in (None, "") else str(value)
    return be_date(instant, _language(), time=time, long=long)


def time_left(value, now: datetime) -> str:
    """How long until (or since) an instant, in whole days or hours: ``อีก 5 วัน``, ``เลยมา 2 วัน``."""
    instant = _instant(value)
    if instant is None:
        return ""
    seconds = (instant - now).total_seconds()
    ahead = seconds >= 0
    seconds = abs(seconds)
    days, hours = int(seconds // 86400), int(seconds // 3600)
    if days >= 1:
        amount = ngettext("%(count)s day", "%(count)s days", days, count=f"{days:,}")
    elif hours >= 1:
        amount = ngettext("%(count)s hour", "%(count)s hours", hours, count=f"{hours:,}")
    else:
        amount = gettext("less than an hour")
    return gettext("%(amount)s left", amount=amount) if ahead else gettext("%(amount)s ago", amount=amount)


def percent(rate) -> str:
    """A rate (0.25 or "0.2500") as Thai official writing has it, ``ร้อยละ 25.0``; English pages ``25.0 %``."""
    if rate in (None, ""):
        return ""
    value = f"{float(rate) * 100:.1f}"
    return f"ร้อยละ {value}" if _language() == "th" else f"{value} %"


def whole_number(text: str | None, most: int = 10 ** 15) -> int | None:
    """A positive whole number written in ASCII digits (``"²"`` passes ``str.isdigit`` but is not one), or None."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        return None
    value = int(text)
    return value if 1 <= value <= most else None


def file_size(size) -> str:
    """A file's size as people read it: ``340 kB``, ``1.2 MB``."""
    if size in (None, ""):
        return ""
    size = int(size)
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} kB"
    return ngettext("%(count)s byte", "%(count)s bytes", size, count=size)


def be_year(ce_year: int) -> int:
    """A Common Era year in the Buddhist Era."""
    return ce_year + BE_OFFSET


def local_input(value) -> str:
    """An instant as the value of an ``<input type="datetime-local">`` in Bangkok time."""
    instant = _instant(value)
    return instant.astimezone(BANGKOK).strftime("%Y-%m-%dT%H:%M") if instant else ""


def from_local_input(text: str) -> datetime | None:
    """What a ``datetime-local`` (or ``date``) field sent, as an aware Bangkok instant; None when unreadable."""
    text = (text or "").strip()
    for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=BANGKOK)
        except ValueError:
            continue
    return None
