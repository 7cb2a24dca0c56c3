"""Fleet KPIs for the dashboard (DOMAIN §5): online rate, data quality, incidents, trips."""
