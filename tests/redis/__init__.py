"""The scale-out's tests. A package, so that its ``conftest`` is ``redis.conftest`` to mypy and
pytest (another directory has a ``conftest`` module of its own). Inside the test run, ``redis``
is this package: nothing here, in trio-ami or in coredis imports the ``redis`` client library.
"""
