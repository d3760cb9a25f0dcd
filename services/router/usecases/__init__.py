"""The router's use cases: what its interfaces (gRPC, the REST admin API, the Kafka consumer) and
its workers ask of it. Each reads what it needs from `storage`, decides with the pure `domain`, and
commits one transaction; `services.router.composition.Router` wires them together once."""
