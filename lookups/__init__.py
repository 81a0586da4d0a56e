"""Lookups: what a value means, from data shipped with a package (airports, sentiment lexicon, user agents)."""
