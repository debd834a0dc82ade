"""Helpers shared by the test suites (importable as ``helpers``: ``tests`` is on the path)."""
