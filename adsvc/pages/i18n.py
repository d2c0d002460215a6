"""The pages' two languages: which one a request gets, the translated texts, and numbers, money and dates formatted
the way that locale writes them (Babel's CLDR data; no network).

Texts are written in English in the templates and code (`_("Sign in")`); Portuguese comes from the catalogs in
`adsvc/pages/locale/pt_BR/LC_MESSAGES/` (one `.po` file per part of the site), compiled in memory at start-up.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale, dates, numbers
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("en", "pt_BR")
DEFAULT_LOCALE = "en"
LANGUAGE_NAMES = {"en": "English", "pt_BR": "Português (Brasil)"}
CATALOG_DIR = Path(__file__).parent / "locale"
# what a table shows for a number that does not exist (CPA with no conversions): an en dash
NO_VALUE = "\u2013"


def load_translations(catalog_dir: Path = CATALOG_DIR) -> dict[str, NullTranslations]:
    """One translations object per locale; English is the text as written."""
    loaded: dict[str, NullTranslations] = {"en": NullTranslations()}
    for locale in LOCALES:
        if locale == "en":
            continue
        catalog = read_catalog(catalog_dir, locale)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        loaded[locale] = Translations(compiled)
    return loaded


def read_catalog(catalog_dir: Path, locale: str) -> Catalog:
    """Every `.po` file of a locale as one catalog; a text translated twice is an error, not a guess."""
    merged = Catalog(locale=locale)
    for path in sorted((catalog_dir / locale / "LC_MESSAGES").glob("*.po")):
        with open(path, "rb") as po:
            for message in read_po(po, locale=locale):
                if not message.id:
                    continue
                if message.id in merged:
                    raise ValueError(f"{path.name}: {message.id!r} is translated in another catalog too")
                merged.add(message.id, message.string, context=message.context)
    return merged


def negotiate(accept_language: str) -> str:
    """The best of our locales for an Accept-Language header (`pt`, `pt-PT` and `pt-BR` all get pt_BR)."""
    wanted: list[tuple[float, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag:
            wanted.append((-quality, str(position) + "\0" + tag.strip().lower()))
    for _, entry in sorted(wanted):
        tag = entry.split("\0", 1)[1]
        if tag.startswith("pt"):
            return "pt_BR"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


@lru_cache(maxsize=16)
def _parsed(locale: str) -> Locale:
    """Babel parses a locale given by name on every call (most of a number's formatting time): parse it once."""
    return Locale.parse(locale)


@dataclass(frozen=True, slots=True)
class Formatter:
    """Formatting for one locale, handed to the templates as `fmt`."""

    locale: str

    @property
    def babel(self) -> Locale:
        return _parsed(self.locale)

    def number(self, value: int | float | Decimal | None, places: int = 0) -> str:
        if value is None:
            return NO_VALUE
        pattern = "#,##0" + ("." + "0" * places if places else "")
        return numbers.format_decimal(value, format=pattern, locale=self.babel)

    def percent(self, value: float | Decimal | None, places: int = 2) -> str:
        """A ratio already in percent (CTR 1.23 is 1.23%)."""
        if value is None:
            return NO_VALUE
        return numbers.format_decimal(value, format="#,##0." + "0" * places, locale=self.babel) + "%"

    def money(self, value: int | float | Decimal | None, currency: str) -> str:
        if value is None:
            return NO_VALUE
        return numbers.format_currency(value, currency, locale=self.babel)

    def day(self, value: date | None, style: str = "medium") -> str:
        return NO_VALUE if value is None else dates.format_date(value, format=style, locale=self.babel)

    def short_day(self, value: date) -> str:
        """Axis labels: day and month only ("3 Dec", "3 de dez.")."""
        return dates.format_skeleton("MMMd", value, locale=self.babel)

    def moment(self, value: datetime | None, timezone: str | None = None) -> str:
        if value is None:
            return NO_VALUE
        return dates.format_datetime(value, format="short", tzinfo=dates.get_timezone(timezone), locale=self.babel)

    def time_of_day(self, value: datetime, timezone: str | None = None) -> str:
        return dates.format_time(value, format="short", tzinfo=dates.get_timezone(timezone), locale=self.babel)

    def ago(self, seconds: float) -> str:
        """ "12 minutes ago" / "há 12 minutos"."""
        ago = timedelta(seconds=-seconds)
        return dates.format_timedelta(ago, add_direction=True, threshold=1.1, locale=self.babel)
