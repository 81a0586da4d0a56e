"""ctxi: context integration. Per-customer event join, rules, and prioritized next-best-action tasks."""

__version__ = "0.1.0"
