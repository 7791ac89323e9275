"""Peer-comparison benchmarks (run on demand with ``python -m benchmarks.run``)."""
