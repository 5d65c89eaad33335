"""upkeep.policies."""
