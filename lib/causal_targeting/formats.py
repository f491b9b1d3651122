"""How numbers and names print, on the terminal and in the report: one helper per kind.

A value that rounds to zero prints without a minus sign (never ``-0.00``), a missing value
(None, NaN) prints as a stated word instead of ``nan``, p-values below the smallest double
that the tests resolve print as ``<1e-300``, amounts carry the value model's currency.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

P_FLOOR = 1e-300
"""p-values below this print as ``<1e-300``: a normal tail this far out underflows to 0."""


def number(value: float | None, spec: str = ",.4g", missing: str = "n/a") -> str:
    """``value`` formatted with ``spec`` (Python's format mini-language); ``missing`` for None or
    NaN; a result that reads as zero loses its minus sign."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    text = format(value, spec)
    mantissa = re.split(r"[eE]", text)[0]
    if text.startswith("-") and not re.search(r"[1-9]", mantissa):
        return text[1:]
    return text


def signed_spec(value: float | None) -> str:
    """The format of a signed difference or bound per customer: 4 decimals (``+0.0523``), or 3
    significant digits when it is smaller than 0.01 in size (``+0.00102``, ``+2.13e-05``), so a
    bound just above zero never reads ``+0.0000``."""
    small = value is not None and 0 < abs(value) < 0.01
    return "+.3g" if small else "+,.4f"


def signed(value: float | None) -> str:
    """A signed difference or bound per customer in :func:`signed_spec`'s format."""
    return number(value, signed_spec(value))


def signed_interval(low: float | None, high: float | None) -> str:
    """``[low, high]`` of a signed difference, each bound by :func:`signed`."""
    return f"[{signed(low)}, {signed(high)}]"


def quantity(value: float) -> str:
    """A count or an amount: whole numbers (to 1e-9 relative, solver round-off) without decimals
    (``22,400``), others to 2 (``2,240.50``)."""
    whole = abs(value - round(value)) <= 1e-9 * max(1.0, abs(value))
    return number(value, ",.0f" if whole else ",.2f")


def p_value(p: float) -> str:
    """A p-value to 2 significant digits, ``<1e-300`` when it is (or underflowed to) below."""
    return f"<{P_FLOOR:.0e}" if p < P_FLOOR else number(p, ".2g")


def amount(value: float | None, currency: str, spec: str = ",.2f") -> str:
    """An amount of the value model's currency: a symbol (``$``) before the number, a word
    (``EUR``, ``value units``) after it."""
    text = number(value, spec)
    if value is None or text == "n/a":
        return text
    if re.search(r"[A-Za-z]", currency):
        return f"{text} {currency}"
    sign = text[0] if text[0] in "+-" else ""
    return f"{sign}{currency}{text[len(sign):]}"


def quoted(names: Iterable[object]) -> str:
    """"'a', 'b' and 'c'": names in quotes, listed."""
    items = [f"'{name}'" for name in names]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def unit_label(currency: str) -> str:
    """The currency as a column header's unit: ``($)``, ``(value units)``."""
    return f"({currency})"


def duration(seconds: float) -> str:
    """Wall time as people read it: '42 s', '4 min 26 s', '1 h 02 min'."""
    whole_seconds = round(seconds)
    if whole_seconds < 60:
        return f"{whole_seconds} s"
    minutes, secs = divmod(whole_seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
