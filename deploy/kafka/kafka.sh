#!/usr/bin/env bash
# Local single-node Kafka (KRaft) from the official jars on Maven Central, for development,
# tests and CI. No Docker, no ZooKeeper, no download outside Maven.
#
#   deploy/kafka/kafka.sh fetch      copy the broker's jars into deploy/kafka/lib (once)
#   deploy/kafka/kafka.sh up         start the broker in the background, wait until it answers
#   deploy/kafka/kafka.sh down       stop it (SIGTERM, then SIGKILL after 20 s)
#   deploy/kafka/kafka.sh status     say whether it runs and answers (exit 0) or not (exit 1)
#   deploy/kafka/kafka.sh down-all   stop every broker started from this checkout's jars,
#                                    whatever its state dir (CI's safety net)
#
# Environment:
#   KAFKA_PORT               client listener on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT    KRaft controller listener on 127.0.0.1 (default 9093)
#   KAFKA_STATE_DIR          config, data, pid and logs (default .run/kafka-$KAFKA_PORT)
#   KAFKA_NUM_PARTITIONS     num.partitions of topics created without a count (default 8)
#   KAFKA_EXTRA_PROPERTIES   optional file whose lines are appended to server.properties
#                            (placeholders as in server.properties.in, plus the three below);
#                            e.g. deploy/kafka/secured.properties: TLS and SASL listeners
#   KAFKA_SASL_SSL_PORT      @KAFKA_SASL_SSL_PORT@ of the extra properties (default 9094)
#   KAFKA_SSL_PORT           @KAFKA_SSL_PORT@ of the extra properties (default 9095)
#   KAFKA_TLS_DIR            @KAFKA_TLS_DIR@ (default $KAFKA_STATE_DIR/tls); when the extra
#                            properties use it, `up` makes a CA and broker certificate there
#                            with deploy/kafka/tls-certs.sh (kept once made)
#   KAFKA_FORMAT_ARGS        extra arguments of the storage format (first `up` of a state
#                            dir), split on spaces, e.g. SCRAM users:
#                            '--add-scram SCRAM-SHA-512=[name=alice,password=alice-secret]'
#   KAFKA_OPTS               extra JVM options of the broker, split on spaces
#                            (e.g. -Djava.security.auth.login.config=FILE for a JAAS file)
#   KAFKA_START_TIMEOUT      seconds `up` waits for the broker to answer (default 60)
set -euo pipefail

KAFKA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$KAFKA_DIR/../.." && pwd)"
LIB="$KAFKA_DIR/lib"
HOST=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
# Absolute: it is written into server.properties and matched against the JVM's command line.
STATE_DIR="$(realpath -m "${KAFKA_STATE_DIR:-$ROOT/.run/kafka-$PORT}")"
NUM_PARTITIONS="${KAFKA_NUM_PARTITIONS:-8}"
SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-9094}"
SSL_PORT="${KAFKA_SSL_PORT:-9095}"
TLS_DIR="$(realpath -m "${KAFKA_TLS_DIR:-$STATE_DIR/tls}")"
START_TIMEOUT_S="${KAFKA_START_TIMEOUT:-60}"
# Kafka's own controlled shutdown takes a few seconds; past this it is hung.
STOP_TIMEOUT_S=20
PID_FILE="$STATE_DIR/kafka.pid"
# The jars are complete once this stamp holds the hash of the pom they were fetched for.
STAMP="$LIB/.pom.sha256"

die() {
    echo "error: $*" >&2
    exit 1
}

need_java() {
    command -v java >/dev/null || die "java not found: install a Java 17 runtime (Debian: openjdk-17-jre-headless)"
}

# Any Python 3 will do: the probe below uses the standard library only.
python_bin() {
    if [[ -x "$ROOT/.venv/bin/python" ]]; then
        echo "$ROOT/.venv/bin/python"
    elif command -v python3 >/dev/null; then
        echo python3
    else
        die "python3 not found: install Python 3 (Debian: python3)"
    fi
}

# Asks the broker at $HOST:$PORT for its metadata (Metadata v0, a raw request: no client
# library or extra JVM needed) until it lists a broker, retrying every 0.2 s. A listening
# port alone is not enough: the broker must have joined its own KRaft quorum to answer.
# Args: timeout in seconds, and optionally a pid whose death ends the wait early.
# Exit status: 0 answered, 1 the process died, 2 timed out.
probe() {
    "$(python_bin)" - "$HOST" "$PORT" "$1" "${2:-}" <<'PY'
import os, socket, struct, sys, time

host, port, timeout_s, pid = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
client_id = b"kafka.sh"
# Request header v1 (api_key 3 = Metadata, version 0, correlation id, client id), then an
# empty topic array, which in v0 means "all topics".
body = struct.pack(">hhih", 3, 0, 1, len(client_id)) + client_id + struct.pack(">i", 0)
request = struct.pack(">i", len(body)) + body

def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data

def brokers_listed():
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.settimeout(2)
        sock.sendall(request)
        (size,) = struct.unpack(">i", read_exact(sock, 4))
        response = read_exact(sock, size)
        correlation_id, brokers = struct.unpack(">ii", response[:8])
        return correlation_id == 1 and brokers > 0

deadline = time.monotonic() + timeout_s
while True:
    try:
        if brokers_listed():
            sys.exit(0)
    except (OSError, struct.error):
        pass
    if pid:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            sys.exit(1)
    if time.monotonic() >= deadline:
        sys.exit(2)
    time.sleep(0.2)
PY
}

# The pid in the pid file, if that process is alive and is our broker (not a reused pid).
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(<"$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    is_broker "$pid" "$STATE_DIR/server.properties" || return 1
    echo "$pid"
}

# True if process $1 is a broker started from our jars (with config $2, if given).
is_broker() {
    local cmdline
    cmdline="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$LIB/*"*kafka.Kafka* && "$cmdline" == *"${2:-}"* ]]
}

# True while process $1 exists and is not a zombie (an exited child not yet reaped).
alive() {
    local _pid _comm state
    read -r _pid _comm state _ <"/proc/$1/stat" 2>/dev/null || return 1
    [[ "$state" != Z ]]
}

# SIGTERM, then SIGKILL if the process is still there after STOP_TIMEOUT_S.
stop_pid() {
    local pid="$1" waited=0
    kill -TERM "$pid" 2>/dev/null || return 0
    # Poll in tenths of a second: the broker usually exits within a few seconds.
    while alive "$pid"; do
        if ((waited == STOP_TIMEOUT_S * 10)); then
            echo "kafka: pid $pid still running after ${STOP_TIMEOUT_S}s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# What went wrong at start-up: the first errors (the cause, before the stack traces and the
# shutdown noise that follow it), then the end of each log.
log_tail() {
    local f
    local errors='^\[[^]]*\] (ERROR|FATAL) |^Caused by: '
    if grep -qE "$errors" "$STATE_DIR/server.log" 2>/dev/null; then
        echo "---- first errors in $STATE_DIR/server.log" >&2
        grep -m 6 -E "$errors" "$STATE_DIR/server.log" >&2
    fi
    for f in "$STATE_DIR/kafka.out" "$STATE_DIR/server.log"; do
        [[ -s "$f" ]] || continue
        echo "---- last lines of $f" >&2
        tail -n 20 "$f" >&2
    done
}

cmd_fetch() {
    local want
    want="$(sha256sum "$KAFKA_DIR/pom.xml" | cut -d' ' -f1)"
    if [[ -f "$STAMP" && "$(<"$STAMP")" == "$want" ]]; then
        return 0
    fi
    need_java
    command -v mvn >/dev/null || die "mvn not found: install Maven (Debian: maven)"
    echo "kafka: fetching the broker's jars from Maven Central into $LIB"
    # Copy into a fresh directory and swap it in whole: an interrupted fetch never leaves a
    # half-filled lib/ that looks complete, and jars of an older version never linger.
    local tmp="$LIB.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # mvn's output (only errors with -q, plus stray terminal escapes) is shown on failure only.
    if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_DIR/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp/mvn.log" 2>&1; then
        cat "$tmp/mvn.log" >&2
        rm -rf "$tmp"
        die "mvn could not fetch the Kafka jars (output above)"
    fi
    rm -f "$tmp/mvn.log"
    echo "$want" >"$tmp/.pom.sha256"
    rm -rf "$LIB"
    mv "$tmp" "$LIB"
}

# server.properties for this port pair and state dir, from the template (+ extra lines).
render_properties() {
    local text
    text="$(<"$KAFKA_DIR/server.properties.in")"
    if [[ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]]; then
        [[ -f "$KAFKA_EXTRA_PROPERTIES" ]] || die "KAFKA_EXTRA_PROPERTIES: no such file: $KAFKA_EXTRA_PROPERTIES"
        text+=$'\n\n'"# ---- appended from $KAFKA_EXTRA_PROPERTIES"$'\n'"$(<"$KAFKA_EXTRA_PROPERTIES")"
    fi
    text="${text//@KAFKA_PORT@/$PORT}"
    text="${text//@KAFKA_CONTROLLER_PORT@/$CONTROLLER_PORT}"
    text="${text//@STATE_DIR@/$STATE_DIR}"
    text="${text//@KAFKA_NUM_PARTITIONS@/$NUM_PARTITIONS}"
    text="${text//@KAFKA_SASL_SSL_PORT@/$SASL_SSL_PORT}"
    text="${text//@KAFKA_SSL_PORT@/$SSL_PORT}"
    if [[ "$text" == *@KAFKA_TLS_DIR@* ]]; then
        bash "$KAFKA_DIR/tls-certs.sh" "$TLS_DIR" || die "could not make certificates in $TLS_DIR"
        text="${text//@KAFKA_TLS_DIR@/$TLS_DIR}"
    fi
    printf '%s\n' "$text" >"$STATE_DIR/server.properties"
}

# A short-lived JVM for the storage tool: no JIT warm-up worth paying for.
kafka_tool() {
    java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \
        -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" -Dkafka.logs.dir="$STATE_DIR" \
        -cp "$LIB/*" "$@"
}

cmd_up() {
    local pid started_at=$SECONDS
    if pid="$(running_pid)"; then
        if probe 2 "$pid"; then
            echo "kafka: already running (pid $pid) on $HOST:$PORT"
            echo "bootstrap: $HOST:$PORT"
            return 0
        fi
    else
        rm -f "$PID_FILE"
        # Something else on our port would make the new broker fail (or tests talk to it).
        if probe 0; then
            die "something already answers on $HOST:$PORT: stop it or set KAFKA_PORT"
        fi
        cmd_fetch
        need_java
        mkdir -p "$STATE_DIR/data"
        render_properties
        if [[ ! -f "$STATE_DIR/data/meta.properties" ]]; then
            local cluster_id format_args
            # Split on blanks without globbing: a SCRAM argument looks like a glob ([...]).
            read -r -a format_args <<<"${KAFKA_FORMAT_ARGS:-}"
            cluster_id="$(kafka_tool kafka.tools.StorageTool random-uuid)"
            kafka_tool kafka.tools.StorageTool format --ignore-formatted \
                -t "$cluster_id" -c "$STATE_DIR/server.properties" "${format_args[@]}" \
                >"$STATE_DIR/format.log" 2>&1 ||
                {
                    cat "$STATE_DIR/format.log" >&2
                    die "could not format $STATE_DIR/data"
                }
        fi
        echo "kafka: starting on $HOST:$PORT (controller $CONTROLLER_PORT), state in $STATE_DIR"
        # In its own session (setsid), so a Ctrl-C or hang-up meant for the caller does not
        # reach it: it is stopped by `down` only. exec keeps $! the JVM's pid.
        local java_opts
        read -r -a java_opts <<<"${KAFKA_OPTS:-}"
        (exec setsid java -Xms256m -Xmx512m -Djava.awt.headless=true "${java_opts[@]}" \
            -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
            -Dkafka.logs.dir="$STATE_DIR" \
            -cp "$LIB/*" kafka.Kafka "$STATE_DIR/server.properties" \
            </dev/null >"$STATE_DIR/kafka.out" 2>&1) &
        pid=$!
        echo "$pid" >"$PID_FILE"
    fi
    local status=0
    probe "$START_TIMEOUT_S" "$pid" || status=$?
    case "$status" in
    0)
        echo "kafka: ready in $((SECONDS - started_at))s (pid $pid)"
        echo "bootstrap: $HOST:$PORT"
        ;;
    1)
        rm -f "$PID_FILE"
        log_tail
        die "the broker exited during start-up (logs in $STATE_DIR)"
        ;;
    *)
        log_tail
        stop_pid "$pid"
        rm -f "$PID_FILE"
        die "the broker did not answer on $HOST:$PORT within ${START_TIMEOUT_S}s; stopped it"
        ;;
    esac
}

cmd_down() {
    local pid
    if pid="$(running_pid)"; then
        echo "kafka: stopping pid $pid ($HOST:$PORT)"
        stop_pid "$pid"
        echo "kafka: stopped"
    else
        echo "kafka: not running ($STATE_DIR)"
    fi
    rm -f "$PID_FILE"
}

cmd_down_all() {
    local proc pid found=0
    for proc in /proc/[0-9]*; do
        pid="${proc#/proc/}"
        is_broker "$pid" || continue
        found=1
        echo "kafka: stopping pid $pid: $(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -o '[^ ]*server.properties' || true)"
        stop_pid "$pid"
    done
    ((found)) || echo "kafka: no broker running from $LIB"
}

cmd_status() {
    local pid
    if pid="$(running_pid)" && probe 2 "$pid"; then
        echo "kafka: running (pid $pid), answering on $HOST:$PORT, state in $STATE_DIR"
        return 0
    elif [[ -n "${pid:-}" ]]; then
        echo "kafka: running (pid $pid) but not answering on $HOST:$PORT"
    else
        echo "kafka: not running ($STATE_DIR)"
    fi
    return 1
}

case "${1:-}" in
fetch) cmd_fetch ;;
up) cmd_up ;;
down) cmd_down ;;
down-all) cmd_down_all ;;
status) cmd_status ;;
*)
    echo "usage: $0 fetch|up|down|status|down-all" >&2
    exit 2
    ;;
esac
