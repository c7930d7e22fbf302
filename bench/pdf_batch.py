"""Where one PDF batch of a billing run spends its time: variants of the same batch, alternating.

    .venv/bin/python bench/pdf_batch.py [--invoices 50] [--rounds 8] [VARIANT ...]

Runs a small billing run (bench/billing_run.py's throwaway SQLite database, one batch) and keeps
the HTML its batch hands to ``split_batch``; then renders that batch again in this process, one
variant after the other for each round, and prints the CPU milliseconds per invoice of each
variant. Alternating the variants within seconds is what makes them comparable on a machine
whose speed drifts by half within hours (bench/README.md).

Variants: ``shipped`` (the batch as a run renders it), ``no-print-part`` (no postal invoice),
``layout-only`` (WeasyPrint's layout, no PDF written), ``logo-without-text`` (the logo's SVG
``<text>`` elements removed), ``no-logo``.
"""

from __future__ import annotations

import argparse
import base64
import re
import runpy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

from guichet.billing import pdf, runs  # noqa: E402

Batch = tuple[str, list[str], set[str] | None]


def capture(invoices: int) -> Batch:
    """The first batch of a billing run of ``invoices`` invoices, as handed to split_batch."""
    captured: list[Batch] = []
    real = runs.split_batch

    def keep(html: str, ids: list[str], combined: set[str] | None = None) -> dict[str, bytes]:
        captured.append((html, ids, combined))
        return real(html, ids, combined)

    runs.split_batch = keep  # type: ignore[assignment]
    argv = sys.argv
    sys.argv = ["billing_run.py", "--invoices", str(invoices), "--batch", str(invoices)]
    try:
        runpy.run_path(str(ROOT / "bench" / "billing_run.py"), run_name="__main__")
    finally:
        sys.argv, runs.split_batch = argv, real  # type: ignore[assignment]
    return captured[0]


def variants(batch: Batch) -> dict[str, Callable[[], object]]:
    from weasyprint import HTML

    html, ids, combined = batch
    logo = re.search(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html)
    without_text = html
    if logo:
        svg = base64.b64decode(logo.group(1)).decode()
        plain = re.sub(r"<text.*?</text>", "", svg, flags=re.S)
        without_text = html.replace(logo.group(1), base64.b64encode(plain.encode()).decode())
    else:
        print("warning: no SVG logo in this batch: the logo variants are the batch as shipped")
    no_logo = re.sub(r'<img src="data:image/[^>]*>', "", html)

    def layout_only() -> object:
        with pdf._collected_once():
            return HTML(string=html, url_fetcher=pdf.safe_fetcher()).render()

    return {
        "shipped": lambda: pdf.split_batch(html, ids, combined),
        "no-print-part": lambda: pdf.split_batch(html, ids, None),
        "layout-only": layout_only,
        "logo-without-text": lambda: pdf.split_batch(without_text, ids, combined),
        "no-logo": lambda: pdf.split_batch(no_logo, ids, combined),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("variant", nargs="*")
    args = parser.parse_args()
    batch = capture(args.invoices)
    every = variants(batch)
    chosen = args.variant or list(every)
    unknown = set(chosen) - set(every)
    if unknown:
        parser.error(f"unknown variant(s) {sorted(unknown)}; known: {list(every)}")
    count = len(batch[1])
    postal = len(batch[2] or ())
    print(f"\none batch of {count} invoices ({postal} by post), {args.rounds} rounds")
    for name in chosen:  # once before measuring: fonts, caches
        every[name]()
    times: dict[str, list[float]] = {name: [] for name in chosen}
    for _round in range(args.rounds):
        for name in chosen:
            start = time.process_time()
            every[name]()
            times[name].append((time.process_time() - start) * 1000 / count)
    for name, values in times.items():
        print(
            f"{name:18} median {statistics.median(values):6.1f} ms of CPU per invoice"
            f"  (min {min(values):.1f}, max {max(values):.1f})"
        )


if __name__ == "__main__":
    main()
