"""Issue 19's silero table: the rows of `edgelstm quantize FILE --scheme auto` runs, as docs/concepts/quantization.md
prints them (candidate, bytes, x smaller, flips per voice, max |dp|, gate verdict, plain session vs fp32).

    for f in silero_vad silero_vad_16k_op15 silero_vad_op18_ifless; do
        edgelstm quantize $SILERO/$f.onnx --scheme auto --const sr=16000 --chunk 512 --context 64 --out runs/auto-$f
    done
    edgelstm quantize $SILERO/silero_vad_half.onnx --scheme auto --chunk 512 --context 64 --out runs/auto-silero_vad_half
    python scripts/silero_auto_table.py runs/auto-silero_vad runs/auto-silero_vad_16k_op15 ...

Reads each folder's auto.json (nothing is re-run or re-timed here). "plain vs fp32" is the worse of the two
plain-session ratios auto judges its speed rule on (default threads, 1 thread); a row not timed says so. The mixed
row is followed by its per-layer choice and the mixes it gated, so the reason a size was (not) reached is visible.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def plain_ratio(row: dict[str, Any], fp32: dict[str, Any]) -> str:
    """The worse of the default-threads and 1-thread plain-session ratios to the fp32 row, or "not timed"."""
    plain, base = row.get("plain_session") or {}, fp32.get("plain_session") or {}
    ratios = [plain.get("latency_vs_fp32")]
    one, one_fp32 = plain.get("latency_ms_batch1_1thread"), base.get("latency_ms_batch1_1thread")
    ratios.append(one / one_fp32 if one and one_fp32 else None)
    known = [r for r in ratios if r is not None]
    return f"{max(known):.2f}x" if known else "not timed"


def flips(summary: dict[str, Any]) -> str:
    """'7 of 1565 (1/0/5/1/0)': the stream's flips and each row's (voice's)."""
    if "flips" not in summary:
        return "-"
    per_row = "/".join(str(r.get("flips", "?")) for r in summary.get("rows") or [])
    return f"{summary['flips']} of {summary['decisions']} ({per_row})"


def gate(row: dict[str, Any]) -> str:
    """The gate's verdict, with the first failure or inconclusive line, cut to fit a table cell."""
    if row["role"] == "reference":
        return "reference"
    if row.get("refused"):
        return "refused: " + row["refused"][:80]
    summary = row.get("summary") or {}
    verdict = summary.get("verdict") or ("pass" if row.get("passed") else "not gated")
    failures = summary.get("failures") or []
    text = verdict if verdict == "pass" or not failures else f"{verdict}: {failures[0]}"
    if verdict == "pass" and not row.get("passed") and row.get("lost"):
        text = f"pass, but {row['lost']}"
    return text if len(text) <= 90 else text[:89] + "…"


def rows(folder: Path) -> list[str]:
    """The markdown rows of one auto run (fp32 first, ORT's own contender left out)."""
    report = json.loads((folder / "auto.json").read_text())
    candidates = [c for c in report["candidates"] if c["role"] != "contender"]
    fp32 = next(c for c in candidates if c["role"] == "reference")
    source = Path((fp32.get("result") or {}).get("source") or folder.name).name
    published = Path(report["published"]).name if report.get("published") else ""
    lines = []
    for row in candidates:
        if row.get("refused"):
            continue
        summary = row.get("summary") or {}
        delta = f"{summary['max_abs_delta']:.3f}" if "max_abs_delta" in summary else "-"
        ratio = "1.00x" if row is fp32 else plain_ratio(row, fp32)
        name = Path((row.get("result") or {}).get("path") or "").name
        mark = "**published**" if published and name == published else ""
        first = f"`{source}`" if row is fp32 else ""
        lines.append(
            f"| {first} | {row['scheme']} | {row['size_bytes']:,} | {row['x_smaller']:.2f}x | {flips(summary)} | {delta} "
            f"| {gate(row)} | {ratio} | {mark} |"
        )
    return lines


def mixed_story(folder: Path) -> list[str]:
    """The mixed row's layers (alone at int8: flips per voice, cost) and every mix it gated."""
    report = json.loads((folder / "auto.json").read_text())
    mixed = next((c for c in report["candidates"] if c["scheme"] == "mixed"), None)
    if mixed is None or not mixed.get("details"):
        return []
    details = mixed["details"]
    lines = [f"{folder.name}: mixed layers (alone at int8: flips, max |dp|, cost; chosen)"]
    for layer in details["layers"]:
        alone = layer["alone"].get("int8", {})
        lines.append(
            f"  {layer['name']:<40} {layer['float_bytes']:>8,} B  int8 alone {alone.get('flips')} flips, "
            f"{alone.get('max_abs_delta', 0):.3f}, cost {layer['cost'].get('int8', 0):.2f} -> {layer['chosen']}"
        )
    for index, trial in enumerate(details["trials"]):
        voices = "/".join(str(r.get("flips")) for r in trial.get("rows") or [])
        chosen = ",".join(p[:5] for p in trial["precisions"].values())
        mark = " (published)" if index == details.get("published_trial") else ""
        lines.append(f"  trial {index}: {trial['size_bytes']:,} B [{chosen}] {trial.get('verdict')} flips {voices}{mark}")
    return lines


def main() -> None:
    """Print the table, then each mixed search's layers and trials."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="--out folders of `quantize --scheme auto` runs")
    args = parser.parse_args()
    print("| file | candidate | bytes | x smaller | flips: all (per voice) | max \\|dp\\| | gate | plain vs fp32 | |")
    print("|---|---|---:|---:|---|---:|---|---:|---|")
    for folder in args.folders:
        print("\n".join(rows(folder)))
    for folder in args.folders:
        print("\n".join(mixed_story(folder)))


if __name__ == "__main__":
    main()
