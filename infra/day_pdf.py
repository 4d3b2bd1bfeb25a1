"""`rcm report day --pdf`: the end-of-day report on one page (fpdf2), from the same sections the terminal shows."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from infra.present import day_sections


def write_day_pdf(report: dict[str, Any], path: Path) -> None:
    pdf = FPDF(format="letter")
    pdf.set_title(f"End of day report {report['date']}")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(text=f"End of day report - {report['date']}", new_x="LMARGIN", new_y="NEXT")
    for title, header, rows in day_sections(report):
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(text=title, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        pdf.set_font("Helvetica", "", 9)
        aligns = ("LEFT", *("RIGHT",) * (len(header) - 1))
        with pdf.table(text_align=aligns, headings_style=FontFace(emphasis="BOLD"), line_height=5) as table:
            for cells in (header, *rows):
                table.row(cells)
    pdf.output(str(path))
