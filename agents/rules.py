"""Rule packs and snoozes reach every worker live, from their compacted topics, without restart."""

from __future__ import annotations

import logging

from ctxi.agents.context import engine
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import RulePackError, load_rule_dir
from ctxi.rules.publish import PublishedPack, load_published
from ctxi.rules.snooze import Snooze
from ctxi.streams import codecs
from ctxi.streams.app import published_table, settings

logger = logging.getLogger(__name__)
QUEUES = frozenset(settings.queues)

# Until a pack is published, the worker runs the packs of CTXI_RULES_DIR (or the built-in ones).
engine.rules = RuleSet(load_rule_dir(settings.rules_dir or BUILTIN_PACKS, QUEUES))
logger.info("rules from %s: version %s", settings.rules_dir or BUILTIN_PACKS, engine.rules.version)

_published: dict[str, PublishedPack] = {}


async def on_pack_published(event) -> None:  # type: ignore[no-untyped-def]
    """Recompile the published packs and swap them in whole; a bad set keeps the running one."""
    pack: PublishedPack | None = event.value
    if pack is None:
        _published.pop(event.key, None)
    else:
        _published[pack.pack] = pack
    if not _published:
        return
    try:
        rules = RuleSet(load_published(_published, QUEUES))
    except RulePackError as exc:  # `ctxi rules publish` checks first, so only a hand-made message gets here
        logger.error("published rule packs rejected, keeping version %s:\n%s", engine.rules.version, exc)
        return
    engine.rules = rules  # one assignment: each event sees the old set or the new one, never a mix
    logger.info("rules version %s live (%s)", rules.version, ", ".join(sorted(_published)))


async def on_snooze(event) -> None:  # type: ignore[no-untyped-def]
    snooze: Snooze | None = event.value
    if snooze is not None:
        engine.snoozes.put(snooze)
        logger.info("snooze %s until %s: %s", snooze.key, snooze.until.isoformat(), snooze.reason)


rule_packs = published_table(
    "rule_packs", settings.rules_topic, codecs.PUBLISHED_PACK_CODEC, "Published rule packs.", on_pack_published
)
snoozes = published_table("snoozes", settings.snoozes_topic, codecs.SNOOZE_CODEC, "Rule snoozes.", on_snooze)
