"""Importer: converts aiconfigurator-core's measured op tables into our own data format.

Needs the optional ``import`` extra (pyarrow). Run: ``aicsolve data import WHEEL`` or
``python -m costmodel.importer WHEEL``.
"""
