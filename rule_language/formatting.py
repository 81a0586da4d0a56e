"""Numbers as agents read them: one format for money everywhere a task shows it.

``USD 1,337.60``: the ISO currency code, a space, thousands separators and two decimals.
Task wording (the ``money`` filter of rule templates), the evidence lines and the desktop's
context card (``money()`` in desktop/static/desktop.js) all write money this way, so one
card never mixes ``1337.60`` with ``USD 112.40``.
"""

from __future__ import annotations


def money(amount: float, currency: str | None = None) -> str:
    """``USD 1,337.60``; without a known currency, ``1,337.60``."""
    figure = f"{amount:,.2f}"
    return f"{currency} {figure}" if currency else figure
