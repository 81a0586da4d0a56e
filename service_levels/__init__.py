"""Service levels: how fast each queue's tasks must be claimed and resolved, per priority band,
and how a task nobody claims in time escalates (a YAML policy, ``ctxi sla check``)."""
