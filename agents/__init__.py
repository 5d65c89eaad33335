"""upkeep.agents."""
