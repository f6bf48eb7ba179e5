"""The scaffold of every HTML report: one self-contained page (inline CSS and SVG, no external files).

The page skeleton and the stylesheet are package data (``accel_models/templates/page.html`` and
``report.css``); the roofline report (:mod:`accel_models.report`) and the co-design report
(:mod:`ofa_hw.report.html`) fill in the body.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from string import Template

__all__ = ["escape", "html_page", "inline_svg"]


@cache
def _template(name: str) -> str:
    return (files("accel_models") / "templates" / name).read_text(encoding="utf-8")


def escape(value: object) -> str:
    """``str(value)`` with HTML's special characters escaped."""
    return html.escape(str(value))


def inline_svg(svg: str) -> str:
    """An SVG document as an element to inline in a page (the XML prologue and doctype dropped)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def html_page(title: str, body: str | Iterable[str]) -> str:
    """The whole page: ``title`` (escaped here) and ``body`` (HTML, parts joined by newlines).

    >>> page = html_page("B2304 <roofline>", ["<h1>hi</h1>"])
    >>> "<title>B2304 &lt;roofline&gt;</title>" in page and "<h1>hi</h1>" in page and ".card{" in page
    True
    """
    text = body if isinstance(body, str) else "\n".join(body)
    return Template(_template("page.html")).substitute(title=escape(title), style=_template("report.css"), body=text)
