"""Printing HTML to PDF with headless Chromium (Debian's package): the dashboard's report, the dossier and any
printed page look exactly as they do on screen, with the same fonts (Noto CJK) and no second layout engine.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from outfalls.errors import PdfFailed


def print_pdf(html: str, chromium: str, timeout_s: int) -> bytes:
    """Print an HTML page to PDF with headless Chromium.

    Raises:
        PdfFailed: Chromium is missing, failed or took too long.
    """
    with tempfile.TemporaryDirectory(prefix="ofpdf") as tmp:
        page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer", f"--print-to-pdf={out}",
                page.as_uri()]  # fmt: skip
        try:
            done = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise PdfFailed(f"the PDF could not be made: {err}") from err
        if done.returncode != 0 or not out.exists():
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise PdfFailed(f"the PDF could not be made: Chromium exited {done.returncode} ({tail[0]})")
        return out.read_bytes()
