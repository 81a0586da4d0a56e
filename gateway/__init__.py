"""The desktop gateway (``ctxi desktop``): HTTP API for agent desktops, on Redis and Kafka."""
