#!/bin/bash
# The public image's health check command, at the public image's path.
exec java -Dlog4j.configuration=file:/opt/kafka/bin/log4j.properties -cp '/opt/kafka/libs/*' kafka.admin.BrokerApiVersionsCommand "$@"
