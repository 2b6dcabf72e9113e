"""Solver: spec → cost-model surfaces → CP-SAT model → Pareto set → report/export."""
