"""Checks of the repository's own files, offline: manifests, compose file, Dockerfile, docs, dashboards,
rules and import rules. No broker or store; tests/conftest.py marks them `static`."""
