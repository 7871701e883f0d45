"""Test support for this repository's tests and benchmarks: real servers and processes."""
