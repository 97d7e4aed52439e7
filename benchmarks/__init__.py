"""Benchmarks: scripts that print figures and ratios, bounded, stopping by themselves, loopback only.

Each runs as a module from the repository root, so that it imports builder, the tests' helpers (`tests.support`)
and the other benchmarks by their package names: `.venv/bin/python -m benchmarks.NAME [--help]`.
"""
