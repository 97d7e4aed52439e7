"""Helpers for the tests that need real system components."""
