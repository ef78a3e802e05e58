"""The scorecard as a reader sees it: a coloured grid of claims × families, then the details folded per section.

Takes the DataFrame of `pgxlib.report.scorecard.build_scorecard` and returns HTML strings (a notebook shows
them with `IPython.display.HTML`). `link(chapter, family)` gives the page of a chapter run (the book passes
`pgxlib.book.page_link`); without it nothing is linked. Families come from the card, in the order of
`pgxlib.config.FAMILIES`, then the headline column "all".
"""
from __future__ import annotations

import html
import re
from typing import Callable, Mapping

from pgxlib.config import FAMILIES
from pgxlib.report.scorecard import STATUSES, sections

COLOURS = {"reproduced": "#b9e4b4", "refuted": "#f5b7b1", "undecided": "#fbe5a0", "not yet measured": "#e6e6e6"}
SYMBOLS = {"reproduced": "✓", "refuted": "✗", "undecided": "?", "not yet measured": "–"}
Link = Callable[[str, str], "str | None"]
_TABLE = 'style="border-collapse:collapse;font-size:0.85em;width:100%;table-layout:auto"'
_CELL = "border:1px solid #ccc;padding:2px 5px;vertical-align:top;white-space:normal;overflow-wrap:break-word"


def base_status(status: str) -> str:
    """``reproduced`` for ``reproduced (stale)``."""
    return status.replace(" (stale)", "")


NUMBER = re.compile(r"(?<![\w.\-−])[−\-+]?\d[\d,]*(?:\.\d+)?(?:e[−\-+]?\d+)?(?:[-:T]\d+)*%?(?![A-Za-z_\d])")
"""A number as the scorecard writes it (``-3``, ``2.4e-05%``, ``13,909``; a date or time stays whole), not the
digits that start a word (a commit hash)."""


def nowrap_numbers(escaped: str) -> str:
    """`escaped` HTML text with every number in a span that never breaks across lines."""
    return NUMBER.sub(lambda m: f'<span style="white-space:nowrap">{m.group(0)}</span>', escaped)


def text_html(text: str) -> str:
    """Escaped text with markdown `code` spans as <code> and numbers that never break across lines."""
    parts = re.split(r"(`[^`]+`)", html.escape(str(text), quote=False))
    return "".join(f"<code>{p[1:-1]}</code>" if p.startswith("`") and p.endswith("`") and len(p) > 1
                   else nowrap_numbers(p) for p in parts)


def _a(text: str, href: str | None, title: str = "") -> str:
    t = f' title="{html.escape(title)}"' if title else ""
    return f'<a href="{html.escape(href)}"{t}>{text}</a>' if href else (f"<span{t}>{text}</span>" if t else text)


def columns(card) -> tuple[list[str], list[str]]:
    """(families with at least one measured claim, families with none), each in `FAMILIES` order, "all" last."""
    order = [f for f in (*FAMILIES, "all") if f in set(card["family"])]
    order += [f for f in dict.fromkeys(card["family"]) if f not in order]
    measured = {f for f, s in zip(card["family"], card["status"]) if base_status(s) != "not yet measured"}
    return [f for f in order if f in measured], [f for f in order if f not in measured]


def legend_html() -> str:
    return " ".join(f'<span style="background:{COLOURS[s]};padding:1px 6px;border-radius:3px">{SYMBOLS[s]} {s}</span>'
                    for s in STATUSES) + " <span>· * stale: computed by older code (shown, to be recomputed) · a blank cell: the paper makes that claim on other families only · hover a cell for the paired gap, its 95% interval and the seeds that would decide</span>"


def grid_html(card, link: Link | None = None) -> str:
    """The claims × families grid: one row per short claim label, one coloured cell per family where the claim
    exists (symbol and our number, linked to the chapter run, the verdict's reason on hover). Families where
    nothing is measured and claims measured nowhere are not drawn as grey rows: a line under the grid names
    them once, with the reason."""
    shown, unmeasured = columns(card)
    link = link or (lambda chapter, family: None)
    rows = [lab for lab in dict.fromkeys(card["label"])
            if any(base_status(s) != "not yet measured" for s in card.loc[card["label"] == lab, "status"])]
    head = "".join(f'<th style="{_CELL}">{html.escape(f)}</th>' for f in shown)
    body = []
    for label in rows:
        sub = card[card["label"] == label]
        chapter = sub["chapter"].iloc[0]
        cells = []
        for family in shown:
            match = sub[sub["family"] == family]
            if match.empty:
                cells.append(f'<td style="{_CELL}"></td>')
                continue
            row = match.iloc[0]
            status = base_status(row["status"])
            stale = " (stale)" if row["status"].endswith("(stale)") else ""
            ours = row["ours"]
            text = f"{SYMBOLS[status]} {nowrap_numbers(html.escape(ours))}" + ("*" if stale else "")
            order = (f" | gap {row['gap']}, 95% interval {row['interval']} over {row['seeds']} seeds, P(improvement) "
                     f"{row['P(improvement)']}" + (f", {row['seeds to decide']} seeds would decide"
                                                   if row["seeds to decide"] != "–" else "")
                     if row.get("gap", "–") != "–" else "")
            tip = f"{row['status']}: {row['why']}{order}"
            cells.append(f'<td style="{_CELL};background:{COLOURS[status]};text-align:center">'
                         f'{_a(text, link(chapter, family), tip)}</td>')
        name = _a(html.escape(label), link(chapter, "all"), sub["claim"].iloc[0])
        body.append(f'<tr><th style="{_CELL};text-align:left;font-weight:normal">{name}</th>{"".join(cells)}</tr>')
    nowhere = [lab for lab in dict.fromkeys(card["label"]) if lab not in rows]
    notes = []
    for family in unmeasured:
        sub = card[card["family"] == family]
        notes.append(f"<b>{html.escape(family)}</b>: none of its {len(sub)} claims is measured here; "
                     f"{text_html(sub['why'].iloc[0])}")
    if nowhere:
        notes.append("measured on no family yet: " + ", ".join(html.escape(x) for x in nowhere))
    note = "".join(f'<p style="font-size:0.85em;margin:0.2em 0">{n}</p>' for n in notes)
    return (f'<p style="font-size:0.85em">{legend_html()}</p>'
            f'<table {_TABLE}><thead><tr><th style="{_CELL}">claim</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>{note}')


def _order_text(row) -> str:
    """``+9.22 [−58.7, +132], 3 seeds (513 to decide)`` for an order row, "–" otherwise."""
    if row.get("gap", "–") == "–":
        return "–"
    decide = f" ({row['seeds to decide']} to decide)" if row["seeds to decide"] != "–" else ""
    return html.escape(f"{row['gap']} {row['interval']}, {row['seeds']} seeds{decide}")


def counts_text(rows) -> str:
    counts = {s: int(sum(base_status(x) == s for x in rows["status"])) for s in STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def details_html(card, link: Link | None = None) -> str:
    """One folded section per paper table: a row per measured claim (short label linked to its chapter, family,
    paper, ours, coloured status, why with commands as code, result), and the claims not measured here grouped
    by their reason, each reason said once."""
    link = link or (lambda chapter, family: None)
    cols = ("claim", "family", "paper", "ours", "status", "gap [95% interval]", "why", "result")
    out = []
    for caption, rows in sections(card):
        lines = []
        measured = rows[[base_status(s) != "not yet measured" for s in rows["status"]]]
        for _, row in measured.iterrows():
            status = base_status(row["status"])
            cells = [_a(html.escape(row["label"]), link(row["chapter"], row["family"]), row["claim"]),
                     html.escape(row["family"]), nowrap_numbers(html.escape(row["paper"])),
                     nowrap_numbers(html.escape(row["ours"])),
                     html.escape(row["status"]), _order_text(row), text_html(row["why"]),
                     text_html(f"{row['profile & budget']} · {row['result']}")]
            style = [""] * 4 + [f";background:{COLOURS[status]}", ";white-space:nowrap"] + [""] * 2
            lines.append("<tr>" + "".join(f'<td style="{_CELL}{st}">{c}</td>' for c, st in zip(cells, style)) + "</tr>")
        missing = rows[[base_status(s) == "not yet measured" for s in rows["status"]]]
        for why, group in missing.groupby("why", sort=False):
            claims = "; ".join(f"{lab} ({fam})" for lab, fam in zip(group["label"], group["family"]))
            lines.append(f'<tr><td style="{_CELL};background:{COLOURS["not yet measured"]}" colspan="8">'
                         f"<b>not measured ({len(group)}):</b> {html.escape(claims)}. {text_html(why)}</td></tr>")
        head = "".join(f'<th style="{_CELL}">{c}</th>' for c in cols)
        out.append(f"<details><summary><b>{html.escape(caption)}</b>: {counts_text(rows)}</summary>"
                   f"<table {_TABLE}><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table></details>")
    return "\n".join(out)


def chapter_links(pages: Mapping[tuple[str, str], str]) -> Link:
    """A `Link` from a map (chapter, family) → page; family "all" falls back to any page of the chapter."""
    def link(chapter: str, family: str) -> str | None:
        if (chapter, family) in pages:
            return pages[(chapter, family)]
        return next((href for (c, _), href in pages.items() if c == chapter), None) if family == "all" else None
    return link
