"""Per-customer context: the join of every source, kept bounded, and the fleet index."""
