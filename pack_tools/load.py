"""Load rule packs as every reader of them does (the worker, a publish, ``ctxi rules check``):
compiled (``rules/loader.py``), then each rule's templates rendered on sample events
(``pack_tools/samples.py``), so that what the sandbox forbids is refused before a pack goes live."""

from __future__ import annotations

from pathlib import Path

from ctxi.pack_tools.samples import render_problems
from ctxi.rules.loader import LoadedPacks, RulePackError, compile_packs


def load_rule_dir(directory: Path, queues: frozenset[str]) -> LoadedPacks:
    """Every ``*.yaml``/``*.yml`` pack of ``directory``; raises :class:`RulePackError` listing all errors."""
    if not directory.is_dir():
        raise RulePackError([f"{directory}: not a directory of rule packs"])
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not paths:
        raise RulePackError([f"{directory}: no rule packs (*.yaml) found"])
    return load_rule_texts({str(path): path.read_text() for path in paths}, queues)


def load_rule_texts(texts: dict[str, str], queues: frozenset[str]) -> LoadedPacks:
    """Packs given as {file name: YAML text} (files from disk, or messages from the rules topic)."""
    loaded, errors = compile_packs(texts, queues)
    for compiled in loaded.rules:
        errors += [f"{compiled.source}: {compiled.rule.id}: {problem}" for problem in render_problems(compiled)]
    if errors:
        raise RulePackError(errors)
    return loaded
