"""Benchmarks (`python -m bench [names...]`, `make bench`): see bench/README.md."""
