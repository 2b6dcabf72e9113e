"""Cost model: measured op timings composed into serving latency and throughput.

Importing this package loads no data; every table is read on first use.
"""
