#!/bin/sh
# The public image's tool of this name, which docker-compose.yml's healthcheck runs: the same class
# (kafka-tools) on the same jars as the broker.
exec java -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
  -cp '/opt/kafka/libs/*' org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
