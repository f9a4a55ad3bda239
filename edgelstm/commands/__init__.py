"""One module per `edgelstm` command; importing this package registers them all on the app.

The import order is the order `edgelstm --help` lists the commands in: the pipeline's order.
"""

# isort: skip_file
from edgelstm.commands import model, check, quantize, bench, bundle, report, convert, distill

__all__ = ["bench", "bundle", "check", "convert", "distill", "model", "quantize", "report"]
