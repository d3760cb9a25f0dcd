"""The notify service's interfaces: the REST API under /v1/webhooks."""
