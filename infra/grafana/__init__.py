"""Grafana adapters: the dashboards' SQL as Grafana runs it, offline snapshots, and publishing to a server."""
