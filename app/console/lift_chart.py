"""The lift chart: treated vs holdout conversion rate per program, as inline SVG.

Drawn on the server so the console needs no JavaScript charting library or build step.
"""

from __future__ import annotations

from html import escape

from policy.lift_report import LiftReport

BAR = 18
GAP = 26
LABEL = 150
WIDTH = 420
TREATED = "#3b5bdb"
HOLDOUT = "#adb5bd"


def lift_chart(report: LiftReport) -> str:
    programs = [p for p in report.programs if p.treated.customers or p.holdout.customers]
    if not programs:
        return ""
    top = max(
        [p.treated.conversion_rate or 0.0 for p in programs]
        + [p.holdout.conversion_rate or 0.0 for p in programs]
        + [0.01]
    )
    row = 2 * BAR + GAP
    height = len(programs) * row + 30
    parts = [
        f'<svg role="img" aria-label="Conversion rate, treated vs holdout" '
        f'viewBox="0 0 {LABEL + WIDTH + 70} {height}" width="100%">',
        f'<rect x="{LABEL}" y="{height - 22}" width="10" height="10" fill="{TREATED}"/>'
        f'<text x="{LABEL + 14}" y="{height - 13}">treated</text>'
        f'<rect x="{LABEL + 80}" y="{height - 22}" width="10" height="10" fill="{HOLDOUT}"/>'
        f'<text x="{LABEL + 94}" y="{height - 13}">holdout</text>',
    ]
    for index, program in enumerate(programs):
        y = index * row
        parts.append(f'<text x="0" y="{y + BAR + 4}">{escape(program.program)}</text>')
        for offset, group, colour in (
            (0, program.treated, TREATED),
            (BAR, program.holdout, HOLDOUT),
        ):
            rate = group.conversion_rate
            width = 0 if rate is None else max(1, round(WIDTH * rate / top))
            label = "—" if rate is None else f"{rate * 100:.1f}% of {group.customers}"
            parts.append(
                f'<rect x="{LABEL}" y="{y + offset}" width="{width}" height="{BAR - 3}" '
                f'rx="3" fill="{colour}"/>'
                f'<text x="{LABEL + width + 6}" y="{y + offset + BAR - 6}">{label}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
