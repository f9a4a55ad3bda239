"""One run directory -> report.json, report.md and a self-contained report.html, rendered from the JSON."""

from edgelstm.report.collect import ArtifactRow, RunSummary, collect_run, read_summary
from edgelstm.report.render import html_report, markdown_report

__all__ = ["ArtifactRow", "RunSummary", "collect_run", "html_report", "markdown_report", "read_summary"]
