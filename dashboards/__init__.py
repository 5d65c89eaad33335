"""upkeep.dashboards."""
