#!/bin/bash
# As apache/kafka's script of this name (docker-compose.yml's health check runs it): asks a
# broker which API versions it supports, which needs a working metadata round trip.
# A short-lived JVM: no JIT warm-up worth paying for.
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m \
    -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties \
    -cp '/opt/kafka/libs/*' kafka.admin.BrokerApiVersionsCommand "$@"
