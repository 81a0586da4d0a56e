"""Benchmarks: micro-benchmarks run as scripts (``python benchmarks/engine.py``) and the
end-to-end benchmark behind ``ctxi bench`` (``endtoend.py``, with its bare-faust ceiling)."""
