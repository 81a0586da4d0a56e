"""Prioritization: how urgent each proposed task is, explained factor by factor."""
