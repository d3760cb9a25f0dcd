"""The development stack: what runs the platform on a developer's machine (`helpline up`, `helpline
down`, `helpline simulate`), the Kafka, Redis and Prometheus it starts, and their configuration.

Not part of the library: neither the wheel nor the services' image carries it. helpline.cli adds its
commands when it is importable, which it is in a checkout synced with `uv sync` (the editable install
puts the repository root on the path)."""
