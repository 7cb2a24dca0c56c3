"""Fleet KPIs for the dashboard (docs/DOMAIN.md §5): online rate, data quality, incidents, trips."""
