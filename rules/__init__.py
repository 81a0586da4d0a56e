"""Rules: analysts' YAML packs with CEL conditions, compiled at load, evaluated per event type."""

from pathlib import Path

BUILTIN_PACKS = Path(__file__).resolve().parent / "packs"
