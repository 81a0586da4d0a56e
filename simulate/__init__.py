"""Synthetic customers and their events, with situations planted and the ground truth written beside them."""
