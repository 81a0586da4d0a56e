"""Enrichers: small pure functions of (event, context) that return typed signals.

A new enricher is one module with a function decorated by
:func:`ctxi.enrichers.registry.enricher`, named in ``BUILTIN_MODULES`` of the registry.
"""
