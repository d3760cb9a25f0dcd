"""The router's background workers, run by every replica: the durable timers (`timers`), the
periodic queue snapshots (`snapshots`) and the pruning of requirement signatures (`pruning`)."""
