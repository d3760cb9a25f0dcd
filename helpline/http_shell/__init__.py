"""A service's HTTP shell: everything a service process serves over HTTP but its REST API.

- shell: HttpShell, what ServiceRuntime holds: the app(s) and the server(s) running them.
- apps: the FastAPI apps with /healthz, /readyz, /metrics and the API's docs; one app, or with an
  operations port, the API's and the operations' apps.
- probes: the readiness checks of the dependencies and the probe that runs them with a deadline.
- metrics: request latency by route template, and when /metrics was last scraped.
- server: uvicorn on a background thread.
"""
