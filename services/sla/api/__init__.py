"""The SLA service's APIs: REST admin of policies and calendars under /v1, and gRPC SlaService."""
