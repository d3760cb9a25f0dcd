"""The router domain: queues, agents, routing profiles, the routing decisions and wait estimates.

Pure: no I/O, no clock reads, no random ids. The store keeps the sorted sets the scores here
describe and calls these functions (or their Lua equivalents) to decide.
"""
