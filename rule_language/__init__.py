"""The rule language: pack documents, CEL and templates compiled in a sandbox, their types, their plain reading."""
