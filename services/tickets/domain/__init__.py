"""The ticket domain: the model, the lifecycle state machine and the commands. Pure: no I/O."""
