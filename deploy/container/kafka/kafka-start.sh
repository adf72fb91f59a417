#!/bin/bash
# Entry point of the Kafka stand-in image: writes server.properties from the environment
# as apache/kafka's image does, formats the log directory on the first start, runs the
# broker in the foreground (exec: it receives the engine's SIGTERM and shuts down cleanly).
#
# Each KAFKA_<NAME> variable becomes a property: <NAME> lower-cased, `_` -> `.`, `__` -> `_`,
# `___` -> `-` (KAFKA_LOG_DIRS -> log.dirs). KAFKA_HEAP_OPTS and KAFKA_OPTS are JVM options,
# not properties. CLUSTER_ID formats an empty log directory (required then).
set -euo pipefail

config=/opt/kafka/config/server.properties
jvm_only=" KAFKA_HEAP_OPTS KAFKA_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_LOG4J_OPTS KAFKA_VERSION "

{
    echo "# Written by kafka-start.sh from the container's KAFKA_* environment."
    while IFS= read -r name; do
        [[ "$name" == KAFKA_* && "$jvm_only" != *" $name "* ]] || continue
        key="${name#KAFKA_}"
        key="${key,,}"
        key="${key//___/-}"
        key="${key//__/$'\x01'}"
        key="${key//_/.}"
        key="${key//$'\x01'/_}"
        printf '%s=%s\n' "$key" "${!name}"
    done < <(compgen -e | sort)
} >"$config"

log_dir="$(sed -n 's/^log\.dirs=\([^,]*\).*/\1/p' "$config")"
log_dir="${log_dir:-/tmp/kafka-logs}"
if [[ ! -f "$log_dir/meta.properties" ]]; then
    [[ -n "${CLUSTER_ID:-}" ]] || {
        echo "kafka-start: $log_dir is not formatted and CLUSTER_ID is not set" >&2
        exit 1
    }
    java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties \
        -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format --ignore-formatted \
        -t "$CLUSTER_ID" -c "$config"
fi

read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
read -r -a extra <<<"${KAFKA_OPTS:-}"
exec java "${heap[@]}" -Djava.awt.headless=true "${extra[@]}" \
    -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties \
    -cp '/opt/kafka/libs/*' kafka.Kafka "$config"
