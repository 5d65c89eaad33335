"""upkeep.collectors."""
