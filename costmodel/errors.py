"""The one base class of every error the cost model raises on purpose (bad input or missing data).

Each concrete error keeps its standard base too (ValueError, LookupError, RuntimeError), so callers that catch
those go on working; `except CostModelError` catches all of them.
"""

from __future__ import annotations


class CostModelError(Exception):
    """An input, data file or request the cost model cannot price; the message says which and what would work."""


class UnknownModelError(CostModelError, ValueError):
    """The model id or alias is not in the registry and is not a config.json path."""


class UnsupportedModelError(CostModelError, ValueError):
    """A config.json names an architecture (or lacks a field) this module cannot describe."""
