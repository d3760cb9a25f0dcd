"""The notify service: outbound webhooks."""
