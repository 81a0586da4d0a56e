"""The local dev stack (``ctxi devstack up|down|status``): real Kafka and Redis without Docker."""

from ctxi.devstack.stack import DevStack, DevStackError, ServiceStatus

__all__ = ["DevStack", "DevStackError", "ServiceStatus"]
