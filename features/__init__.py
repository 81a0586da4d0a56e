"""Features: aggregates analysts define over past events (rule packs' ``features:``), kept per customer."""
