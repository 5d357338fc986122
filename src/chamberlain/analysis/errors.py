"""The analysis package's errors."""

from __future__ import annotations

from chamberlain.errors import Error


class AnalysisError(Error):
    """An analysis that cannot be done as asked (the message says why and what to do)."""
