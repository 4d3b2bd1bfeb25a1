"""Adapters and entry points: settings, storage, the composition root and the `rcm` command line."""
