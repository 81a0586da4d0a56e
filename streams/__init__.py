"""Streaming plumbing: the faust app, the topic catalogue, codecs and settings."""
