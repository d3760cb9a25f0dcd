"""The metrics service's pure domain: KPI formulas and Erlang C staffing. No I/O."""
