"""`python -m simulator simulate ...`: the simulator on its own, as its image runs it (docker-compose.yml)."""

from simulator.cli import app

app(prog_name="simulator")
