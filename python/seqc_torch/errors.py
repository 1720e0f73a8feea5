"""The one exception the exporter raises for what it cannot map."""


class SeqcExportError(Exception):
    """A module, function or argument the exporter cannot express in seqc's
    model language (or a failure of the check run). The message names the
    module's qualified name and type, or the function, and the source line."""
