"""The simulated contact centre: a client of the platform run against a stack through its real
interfaces (`helpline simulate` in a checkout, `python -m simulator simulate` in its own image).
It imports the helpline library, never services, and ships in neither the wheel nor the services'
image."""
