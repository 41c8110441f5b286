"""Steam's 47 wallet currencies: id, symbol and number format.

The facts come from Valve's own table, ``g_rgCurrencyData`` in
``steamcommunity.com/public/javascript/global.js`` (mirrored with its history by
SteamDatabase/SteamTracking): for each currency its ``ECurrencyCode`` (the
``currency`` query parameter), its symbol and whether that symbol is a prefix,
its decimal symbol and its thousands separator. Market price strings are
formatted from it: ``$1,234.56``, ``1 234,56€``, ``S/.1,234.56``, ``1,234.56 kr``…

Two details differ between versions of that file and are accepted both ways:
RUB's symbol is ``pуб.`` (a Latin ``p``) in some and ``руб.`` in others, and
whether CNY, TWD and RUB show minor units (the parser accepts two minor digits in
every currency, which is unambiguous because the decimal symbol is fixed).

Two symbols are shared: ``¥`` (JPY and CNY, both prefixes) and ``kr`` (NOK and
SEK, both suffixes; DKK is ``kr.``). ``currencies_for_marker`` returns every
candidate so that callers never guess between them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Spaces Steam may put between symbol and number or between digit groups.
SPACES = " \u00a0\u202f\u2009"


@dataclass(frozen=True)
class SteamCurrency:
    code: str  # ISO 4217
    steam_id: int  # ECurrencyCode: the ``currency`` query parameter
    symbols: tuple[str, ...]  # how Steam writes it; the first is the current one
    symbol_is_prefix: bool
    decimal_sep: str  # "." or ","
    thousands_sep: str  # "", " ", "." or ","

    @property
    def symbol(self) -> str:
        return self.symbols[0]


def _c(
    code: str, steam_id: int, symbol: str | tuple[str, ...], prefix: bool, dec: str, group: str
) -> SteamCurrency:
    symbols = (symbol,) if isinstance(symbol, str) else symbol
    return SteamCurrency(code, steam_id, symbols, prefix, dec, group)


P, S = True, False  # symbol before / after the number

CURRENCIES: dict[str, SteamCurrency] = {
    c.code: c
    for c in (
        _c("USD", 1, "$", P, ".", ","),
        _c("GBP", 2, "£", P, ".", ","),
        _c("EUR", 3, "€", S, ",", " "),
        _c("CHF", 4, "CHF", P, ".", " "),
        _c("RUB", 5, ("pуб.", "руб."), S, ",", ""),
        _c("PLN", 6, "zł", S, ",", " "),
        _c("BRL", 7, "R$", P, ",", "."),
        _c("JPY", 8, "¥", P, ".", ","),
        _c("NOK", 9, "kr", S, ",", "."),
        _c("IDR", 10, "Rp", P, ".", " "),
        _c("MYR", 11, "RM", P, ".", ","),
        _c("PHP", 12, "P", P, ".", ","),
        _c("SGD", 13, "S$", P, ".", ","),
        _c("THB", 14, "฿", P, ".", ","),
        _c("VND", 15, "₫", S, ",", "."),
        _c("KRW", 16, "₩", P, ".", ","),
        _c("TRY", 17, "TL", S, ",", "."),
        _c("UAH", 18, "₴", S, ",", " "),
        _c("MXN", 19, "Mex$", P, ".", ","),
        _c("CAD", 20, "CDN$", P, ".", ","),
        _c("AUD", 21, "A$", P, ".", ","),
        _c("NZD", 22, "NZ$", P, ".", ","),
        _c("CNY", 23, "¥", P, ".", ","),
        _c("INR", 24, "₹", P, ".", ","),
        _c("CLP", 25, "CLP$", P, ",", "."),
        _c("PEN", 26, "S/.", P, ".", ","),
        _c("COP", 27, "COL$", P, ",", "."),
        _c("ZAR", 28, "R", P, ".", " "),
        _c("HKD", 29, "HK$", P, ".", ","),
        _c("TWD", 30, "NT$", P, ".", ","),
        _c("SAR", 31, "SR", S, ".", ","),
        _c("AED", 32, "AED", S, ".", ","),
        _c("SEK", 33, "kr", S, ".", ","),
        _c("ARS", 34, "ARS$", P, ",", "."),
        _c("ILS", 35, "₪", P, ".", ","),
        _c("BYN", 36, "Br", P, ".", ","),
        _c("KZT", 37, "₸", S, ",", " "),
        _c("KWD", 38, "KD", S, ".", ","),
        _c("QAR", 39, "QR", S, ".", ","),
        _c("CRC", 40, "₡", P, ",", "."),
        _c("UYU", 41, "$U", P, ",", "."),
        _c("BGN", 42, "лв", S, ".", ","),
        _c("HRK", 43, "kn", S, ".", ","),
        _c("CZK", 44, "Kč", S, ".", ","),
        _c("DKK", 45, "kr.", S, ".", ","),
        _c("HUF", 46, "Ft", S, ".", ","),
        _c("RON", 47, "lei", S, ".", ","),
    )
}
BY_STEAM_ID: dict[int, SteamCurrency] = {c.steam_id: c for c in CURRENCIES.values()}


def steam_currency(code: str) -> SteamCurrency:
    """The table entry for an ISO code (case-insensitive); ``ValueError`` if unknown."""
    try:
        return CURRENCIES[code.strip().upper()]
    except KeyError:
        raise ValueError(
            f"{code!r} is not one of Steam's currencies ({', '.join(CURRENCIES)})"
        ) from None


def squeeze(text: str) -> str:
    """``text`` without any kind of space (symbols are compared this way)."""
    return "".join(ch for ch in text if ch not in SPACES)


def marker_matches(spec: SteamCurrency, prefix: str, suffix: str) -> bool:
    """Do the texts before and after a number denote ``spec``? Spaces are ignored;
    a USD amount may carry a trailing ``USD`` (Steam adds it outside the US)."""
    before, after = squeeze(prefix), squeeze(suffix)
    if spec.code == "USD" and after == "USD":
        after = ""
    if spec.symbol_is_prefix:
        return before in spec.symbols and after == ""
    return before == "" and after in spec.symbols


def currencies_for_marker(prefix: str, suffix: str) -> list[SteamCurrency]:
    """Every currency written with this prefix/suffix: none, one, or two for ``¥``/``kr``."""
    return [spec for spec in CURRENCIES.values() if marker_matches(spec, prefix, suffix)]
