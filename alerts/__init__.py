"""upkeep.alerts."""
