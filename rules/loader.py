"""Load rule packs from YAML, compile every expression and template, report errors as file:line.

Nothing is evaluated on a live event that has not compiled here: CEL conditions are
compiled with the ``cel`` package and checked for unknown variables; templates are
compiled in Jinja's sandbox and checked for unknown names.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cel
from jinja2 import TemplateSyntaxError, meta, nodes
from ruamel.yaml.comments import CommentedMap

from ctxi.features.definitions import CompiledFeature, FeatureExpression
from ctxi.rule_language.fields import FEATURE_VALUES
from ctxi.rule_language.model import Feature, Pack, Rule, TaskTemplate
from ctxi.rule_language.plain import Condition, plain
from ctxi.rule_language.sandbox import MAX_TEMPLATE_LENGTH, TEMPLATES, cel_code, cel_problems, template_problems
from ctxi.rule_language.typecheck import Reference, cel_references, reference_problems, template_references
from ctxi.schemas.documents import DocumentKind, line_of, read_document
from ctxi.schemas.events import EVENT_TYPES

# What a condition or a template may refer to; a feature's `where` and `value` read the event alone.
VARIABLES = frozenset({"event", "customer", "signals", "features", "reference"})
# a customer's feature reads the event with what the enrichers found and the customer's context;
# an entity's is counted across customers, before any customer's context: the event alone
FEATURE_VARIABLES = frozenset({"event", "signals", "customer", "reference"})
ENTITY_FEATURE_VARIABLES = frozenset({"event", "reference"})
# CEL macros bind a variable of their own: `signals.exists(s, ...)`.
FEATURE_READ = re.compile(r"\bfeatures\s*\.\s*([A-Za-z_]\w*)")
_MACRO_VARIABLE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")

PACK_DOCUMENT = DocumentKind(
    name="rule pack",
    shape="a mapping with pack, owner, rules (and tests)",
    max_bytes=256 * 1024,
    max_nodes=20_000,  # YAML nodes of a pack once its aliases are expanded (an alias bomb has billions)
)


class RulePackError(Exception):
    """Rule packs that cannot be used; ``errors`` are 'file:line: what is wrong' lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    pack: str
    source: str  # file:line of the rule, for messages
    condition: Condition
    priority: Any  # cel.Program or None
    title: Any  # jinja2.Template, likewise below; None for a rule that only supersedes
    reason: Any
    steps: tuple[Any, ...]
    dedup_key: Any
    # the features its templates read (None: `features` as a whole), so only those are read for a task
    template_features: frozenset[str] | None = frozenset()

    @property
    def key(self) -> tuple[str, int]:
        return (self.rule.id, self.rule.version)

    @property
    def then(self) -> TaskTemplate:
        """The task the rule raises; asked only of a rule that raises one (not one that only supersedes)."""
        if self.rule.then is None:
            raise ValueError(f"rule {self.rule.id} raises no task")
        return self.rule.then


@dataclass
class LoadedPacks:
    packs: list[Pack] = field(default_factory=list)
    rules: list[CompiledRule] = field(default_factory=list)
    features: list[CompiledFeature] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # pack name -> YAML text
    reference: dict[str, Any] = field(default_factory=dict)  # every pack's reference tables, by name

    @property
    def version(self) -> str:
        """A digest of every pack's text: what a worker reports as the rules it runs."""
        return set_version(self.files)


def set_version(files: dict[str, str]) -> str:
    """A digest of packs given as {pack name: YAML text}: a set's version, or one pack's."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()[:12]


def unknown_event_type(event_type: str) -> str:
    """The error for an ``on`` entry no event has, with the nearest type there is."""
    near = difflib.get_close_matches(event_type, list(EVENT_TYPES), n=1)
    hint = f"; did you mean {near[0]!r}?" if near else f"; event types: {', '.join(EVENT_TYPES)}"
    return f"unknown event type {event_type!r} in 'on'{hint}"


def compile_packs(texts: dict[str, str], queues: frozenset[str]) -> tuple[LoadedPacks, list[str]]:
    """Packs given as {file name: YAML text}, compiled, and every error found (file:line). Loading
    also renders the templates on sample events, which runs the engine: ``pack_tools/load.py``."""
    loaded, errors = LoadedPacks(), list[str]()
    parsed = [
        (name, text, *found)
        for name, text in texts.items()
        if (found := read_document(name, text, Pack, errors, PACK_DOCUMENT))
    ]
    loaded.reference = _reference_tables(parsed, errors)  # first: any pack's rules and features may read them
    features = _compile_features(parsed, errors, loaded.reference)  # any pack's rules may read any pack's features
    loaded.features = list(features.values())
    seen: dict[tuple[str, int], str] = {}
    for name, text, pack, document in parsed:
        compiled_rules = _compile_rules(name, pack, document, queues, features, loaded.reference, errors)
        if compiled_rules is None:
            continue
        loaded.packs.append(pack)
        loaded.files[pack.pack] = text
        for compiled in compiled_rules:
            if compiled.key in seen:
                errors.append(
                    f"{compiled.source}: duplicate rule {compiled.rule.id} version "
                    f"{compiled.rule.version} (also at {seen[compiled.key]})"
                )
            else:
                seen[compiled.key] = compiled.source
                loaded.rules.append(compiled)
    return loaded, errors


def _compile_rules(
    name: str,
    pack: Pack,
    document: CommentedMap,
    queues: frozenset[str],
    features: dict[str, CompiledFeature],
    reference: dict[str, Any],
    errors: list[str],
) -> list[CompiledRule] | None:
    before = len(errors)
    compiled = []
    for index, rule in enumerate(pack.rules):
        node = document["rules"][index]
        source = f"{name}:{line_of(document, ('rules', index))}"
        compiled_rule = _compile(rule, pack.pack, source, node, name, queues, features, reference, errors)
        if compiled_rule is not None:
            compiled.append(compiled_rule)
    return compiled if len(errors) == before else None


def _reference_tables(parsed: list[tuple[str, str, Pack, CommentedMap]], errors: list[str]) -> dict[str, Any]:
    """Every pack's reference tables by name (a name is shared by all packs: defined once)."""
    tables: dict[str, Any] = {}
    where: dict[str, str] = {}
    for name, _, pack, document in parsed:
        for table, value in pack.reference.items():
            line = f"{name}:{line_of(document, ('reference', table))}"
            if table in tables:
                errors.append(f"{line}: reference {table}: defined twice (also at {where[table]})")
                continue
            tables[table], where[table] = value, line
    return tables


def _compile_features(
    parsed: list[tuple[str, str, Pack, CommentedMap]], errors: list[str], reference: dict[str, Any]
) -> dict[str, CompiledFeature]:
    """Every pack's features by id (ids are shared by all packs: a rule may read another team's)."""
    compiled: dict[str, CompiledFeature] = {}
    for name, _, pack, document in parsed:
        for index, feature in enumerate(pack.features):
            node = document["features"][index]
            source = f"{name}:{line_of(document, ('features', index))}"

            def error(
                path: tuple[Any, ...], message: str, node: Any = node, feature: Feature = feature, name: str = name
            ) -> None:
                errors.append(f"{name}:{line_of(node, path)}: feature {feature.id}: {message}")

            if feature.id in compiled:
                error((), f"duplicate feature id (also at {compiled[feature.id].source})")
                continue
            before = len(errors)
            for position, event_type in enumerate(feature.on):
                if event_type not in EVENT_TYPES:
                    error(("on", position), unknown_event_type(event_type))
            on_types = [t for t in feature.on if t in EVENT_TYPES]
            guards = feature.where or ""

            variables = FEATURE_VARIABLES if feature.entity is None else ENTITY_FEATURE_VARIABLES

            def expression(
                text: str,
                path: tuple[Any, ...],
                error: Any = error,
                guards: str = guards,
                on_types: Any = on_types,
                variables: frozenset[str] = variables,
            ) -> FeatureExpression:
                program = _compile_cel(text, path, path[0], error, on_types, guards, variables, reference=reference)
                return FeatureExpression(text, program, plain(text))

            programs = {
                part: expression(text, (part,))
                for part, text in (("where", feature.where), ("value", feature.value))
                if text is not None
            }
            by = tuple(expression(text, ("by", position)) for position, text in enumerate(feature.by))
            entity = expression(feature.entity, ("entity",)) if feature.entity is not None else None
            if len(errors) == before:
                compiled[feature.id] = CompiledFeature(
                    feature, pack.pack, source, programs.get("where"), programs.get("value"), by, entity
                )
    return compiled


def _compile(
    rule: Rule,
    pack: str,
    source: str,
    node: CommentedMap,
    name: str,
    queues: frozenset[str],
    features: dict[str, CompiledFeature],
    reference: dict[str, Any],
    errors: list[str],
) -> CompiledRule | None:
    def error(path: tuple[Any, ...], message: str) -> None:
        errors.append(f"{name}:{line_of(node, path)}: {rule.id}: {message}")

    before = len(errors)
    for index, event_type in enumerate(rule.on):
        if event_type not in EVENT_TYPES:
            error(("on", index), unknown_event_type(event_type))
    on_types = [t for t in rule.on if t in EVENT_TYPES]
    known = {feature_id: compiled.feature for feature_id, compiled in features.items()}
    condition = _compile_cel(
        rule.when, ("when",), "when", error, on_types, rule.when, VARIABLES, known, reference=reference
    )
    priority = None
    templates: dict[str, Any] = {}
    fields: dict[str, str] = {}
    if rule.then is not None:
        if rule.then.queue not in queues:
            error(("then", "queue"), f"unknown queue {rule.then.queue!r}; known queues: {sorted(queues)}")
        if rule.then.priority is not None:
            priority = _compile_cel(
                rule.then.priority,
                ("then", "priority"),
                "priority",
                error,
                on_types,
                rule.when,
                VARIABLES,
                known,
                reference=reference,
            )
        fields = {"title": rule.then.title, "reason": rule.then.reason, "dedup_key": rule.then.dedup_key}
        fields.update({f"steps.{i}": step for i, step in enumerate(rule.then.steps)})
    read_features: set[str] | None = set()
    for field_name, source_text in fields.items():
        path = ("then", *(int(p) if p.isdigit() else p for p in field_name.split(".")))
        if len(source_text) > MAX_TEMPLATE_LENGTH:
            error(
                path, f"{field_name} has {len(source_text):,} characters; a template may have {MAX_TEMPLATE_LENGTH:,}"
            )
            continue
        try:
            parsed = TEMPLATES.parse(source_text)
        except TemplateSyntaxError as exc:
            error(path, f"template syntax in {field_name}: {exc.message}")
            continue
        problems = list(template_problems(parsed))
        if problems:
            error(path, f"{field_name}: {'; '.join(problems)}")
            continue
        unknown = sorted(meta.find_undeclared_variables(parsed) - VARIABLES)
        if unknown:
            error(path, f"unknown variable(s) {unknown} in {field_name}; use {sorted(VARIABLES)}")
            continue
        guards = f"{rule.when} {source_text}"
        references = template_references(parsed)
        misread = list(reference_problems(references, on_types, guards, True, known, reference))
        read_features = _features_read(parsed, references, read_features)
        if misread:
            error(path, f"{field_name}: {'; '.join(misread)}")
            continue
        templates[field_name] = TEMPLATES.from_string(source_text)
    _check_split_features(rule, [rule.when, *fields.values()], on_types, features, error)
    if len(errors) != before or condition is None:
        return None
    return CompiledRule(
        rule=rule,
        pack=pack,
        source=source,
        condition=Condition(rule.when, condition),
        priority=priority,
        title=templates.get("title"),
        reason=templates.get("reason"),
        steps=tuple(templates[f"steps.{i}"] for i in range(len(rule.then.steps))) if rule.then else (),
        dedup_key=templates.get("dedup_key"),
        template_features=None if read_features is None else frozenset(read_features),
    )


def _features_read(parsed: Any, references: list[Reference], read: set[str] | None) -> set[str] | None:
    """``read`` and the feature ids the template reads; None if it reads ``features`` whole (or by a computed name)."""
    chains = [reference.path for reference in references if reference.path[0] == "features"]
    uses = sum(1 for name in parsed.find_all(nodes.Name) if name.name == "features")
    if read is None or uses > len(chains) or any(len(path) < 2 for path in chains):
        return None
    return read | {path[1] for path in chains}


def _check_split_features(
    rule: Rule, sources: list[str], on_types: list[str], features: dict[str, CompiledFeature], error: Any
) -> None:
    """A rule reading a feature split ``by`` parts of the event must have those parts on its events; one
    reading an entity's feature must be on events the feature counts (only those bring its value)."""
    read = {match for source in sources for match in FEATURE_READ.findall(source)}
    for feature_id in sorted(read):
        compiled = features.get(feature_id)
        if compiled is not None and compiled.across_customers:
            others = [t for t in on_types if t not in compiled.feature.on]
            if others:
                error(
                    ("on",),
                    f"features.{feature_id} is kept per entity ({compiled.feature.entity}) and reaches rules on "
                    f"the events it counts ({', '.join(compiled.feature.on)}), not on {', '.join(others)}",
                )
            continue
        for text in compiled.feature.by if compiled else ():
            for problem in reference_problems(cel_references(text), on_types, rule.when):
                error(("when",), f"features.{feature_id} is split by {text}: {problem}")


def _compile_cel(
    source: str,
    path: tuple[Any, ...],
    what: str,
    error: Any,
    on_types: list[str],
    guards: str,
    variables: frozenset[str],
    features: dict[str, Feature] | None = None,
    *,
    reference: dict[str, Any],
) -> Any:
    problems = list(cel_problems(source))
    if problems:
        error(path, f"'{what}' is too costly: {'; '.join(problems)}")
        return None
    try:
        program = cel.compile(source)
    except ValueError as exc:
        error(path, f"CEL syntax in '{what}': {_firstline_of(exc)}")
        return None
    bound = set(_MACRO_VARIABLE.findall(source))
    unknown = sorted(set(program.variables()) - variables - bound)
    if unknown:
        why = ""
        if variables is ENTITY_FEATURE_VARIABLES and {"customer", "signals"} & set(unknown):
            why = " (a feature kept per entity is counted across customers, before any customer's context)"
        error(path, f"unknown variable(s) {unknown} in '{what}'; use {sorted(variables)}{why}")
        return None
    misread = list(reference_problems(cel_references(source), on_types, guards, False, features or {}, reference))
    misread += list(_unguarded_null_arguments(source, guards, features or {}))
    if misread:
        error(path, f"'{what}': {'; '.join(misread)}")
        return None
    return program


_FUNCTION_OF_FEATURE = re.compile(
    r"\b(timestamp|duration|size|int|double|string)\s*\(\s*(features\s*\.\s*(\w+)\s*\.\s*(at|value))\s*\)"
)


def _unguarded_null_arguments(source: str, guards: str, features: dict[str, Feature]) -> Iterator[str]:
    """A feature's ``at`` (null before its first counted event) or a value that may be null, handed
    to a function without a ``!= null`` guard: it passes the checks and fails on the first customer
    with nothing counted (once, live: "Undefined variable or function: 'timestamp'")."""
    text = " ".join(cel_code(guards).split())
    for match in _FUNCTION_OF_FEATURE.finditer(cel_code(source)):
        function, path, feature_id, field_name = match.groups()
        feature = features.get(feature_id)
        if feature is None or (field_name == "value" and not FEATURE_VALUES[feature.aggregate][1]):
            continue
        dotted = "".join(path.split())
        if f"{dotted}!=null" not in "".join(text.split()):
            yield (
                f"{dotted} is null until the feature has counted an event: guard {function}({dotted}) with "
                f"{dotted} != null"
            )


def _firstline_of(exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"ERROR: <input>:\d+:(\d+): (.*)", text)
    return f"column {match.group(1)}: {match.group(2)}" if match else text.splitlines()[0]
