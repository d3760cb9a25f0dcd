"""The router's state in Redis: the records and their JSON form (`records`), the keys and the one
commit script (`store`), the index entries and timers a record should have (`indexes`), the tenant
registry (`tenants`) and how long what is no longer needed is kept (`retention`). No use case
lives here: storage knows nothing of the use cases that call it."""
