"""Several models on one GPU cluster, sized to a demand or sharing a fixed pool (possibly of mixed GPU types).

spec (cluster.spec) → surfaces per model and system pair (cluster.options) → one CP-SAT model over
every model's configuration and worker counts (cluster.model) → placements re-evaluated with the
full cost model (cluster.solve) → report and export.
"""
