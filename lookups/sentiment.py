"""Sentiment of a text, from VADER (a lexicon model shipped in the vaderSentiment package)."""

from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=4096)  # the join and the social enricher both ask, and posts get reshared
def text_sentiment(text: str) -> float:
    """VADER's compound score, -1 (most negative) to 1 (most positive)."""
    return round(_analyzer().polarity_scores(text)["compound"], 4)
