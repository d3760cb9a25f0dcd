"""The SLA service's pure domain: calendars, policies and the metric engine. No I/O."""
