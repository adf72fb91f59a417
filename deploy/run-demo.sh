#!/usr/bin/env bash
# `make run`: the whole thing on one machine, from an empty broker, until Ctrl-C.
#
#   1. a local Kafka broker (deploy/kafka/kafka.sh up), its topics (sla-worker topics create);
#   2. the worker on deploy/policies/demo.yaml (minute-scale targets), RocksDB state,
#      logging to .run/demo-worker.log; waits for /readyz;
#   3. demo traffic (sla-worker loadgen): about 2 tickets/s, 20% answered late, 5% never,
#      starting with 3 minutes of history so that breaches show up at once;
#      logging to .run/demo-loadgen.log;
#   4. a live feed of warnings and breaches (one colored line each) and outcomes (one line
#      every 10 s with compliance per tier), in this terminal.
#
# Ctrl-C (SIGINT) or SIGTERM stops everything: feed, traffic, worker (SIGTERM, then it gets
# time to commit and close), broker; nothing is left running. Each run starts clean: the
# demo's broker state and worker state are deleted first (they live under .run/ only).
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), SLA_WEB_PORT (6066),
# DEMO_RATE (tickets/s, 2), DEMO_LATE (20%), DEMO_NEVER (5%), DEMO_BACKDATE (3m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export KAFKA_PORT="${KAFKA_PORT:-9092}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
# Its own broker state, apart from `make up`'s, so that deleting it touches nothing else
# (a KAFKA_STATE_DIR given by the caller is used as it is, never deleted).
fresh_state=0
if [[ -z "${KAFKA_STATE_DIR:-}" ]]; then
    fresh_state=1
    export KAFKA_STATE_DIR="$ROOT/.run/demo-kafka-$KAFKA_PORT"
fi
export SLA_BROKER="kafka://127.0.0.1:$KAFKA_PORT"
export SLA_POLICY="$ROOT/deploy/policies/demo.yaml"
export SLA_STORE=rocksdb
export SLA_DATA_DIR="$ROOT/.run/demo-data"
export SLA_LOG_FORMAT=console
export SLA_WEB_HOST=127.0.0.1
export SLA_WEB_PORT="${SLA_WEB_PORT:-6066}"
export SLA_APP_ID=sla-demo

RATE="${DEMO_RATE:-2}"
LATE="${DEMO_LATE:-20%}"
NEVER="${DEMO_NEVER:-5%}"
BACKDATE="${DEMO_BACKDATE:-3m}"
BIN="$ROOT/.venv/bin"
KAFKA="$ROOT/deploy/kafka/kafka.sh"
RUN="$ROOT/.run"
WORKER_LOG="$RUN/demo-worker.log"
LOADGEN_LOG="$RUN/demo-loadgen.log"
# The worker gets this long to start (broker metadata, topic checks, RocksDB, assignment).
READY_TIMEOUT_S=120
# ...and this long to stop after SIGTERM (commit, close the table) before SIGKILL.
STOP_TIMEOUT_S=30

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() {
    echo "error: $*" >&2
    exit 1
}

[[ -x "$BIN/sla-worker" ]] || die "$BIN/sla-worker not found: run 'make install' first"

pids=()        # our background processes, each the leader of its own process group
broker_up=0
cleaned=0

# True while process $1 exists and is not a zombie.
alive() {
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

# SIGTERM to process group $1, then SIGKILL after $2 seconds.
stop_group() {
    local pid="$1" limit="$2" waited=0
    alive "$pid" || return 0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid"; do
        if ((waited >= limit * 10)); then
            echo "demo: pid $pid still running after ${limit}s, sending SIGKILL" >&2
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    ((cleaned)) && return
    cleaned=1
    trap '' INT TERM # a second Ctrl-C must not cut the cleanup short
    echo
    say "stopping the demo"
    # The traffic first, then the feed, then the worker: the reverse of their start.
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        stop_group "${pids[i]}" "$STOP_TIMEOUT_S"
    done
    if ((broker_up)); then
        bash "$KAFKA" down || true
    fi
    # Our children, listed without a command substitution (whose subshell would be one).
    local left="" pid
    pgrep -P $$ >"$RUN/demo-children" || true
    while read -r pid; do left+=" $pid"; done <"$RUN/demo-children"
    rm -f "$RUN/demo-children"
    for pid in "${pids[@]}"; do
        if alive "$pid"; then left+=" $pid"; fi
    done
    if [[ -n "${left// /}" ]]; then
        echo "demo: still running: $left" >&2
    else
        say "stopped; nothing left running (logs: $WORKER_LOG, $LOADGEN_LOG)"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts "$@" in the background in its own session and process group (so the group can be
# stopped as a whole), appending its output to the file $1 ("-": this script's output).
start() {
    local log="$1"
    shift
    if [[ "$log" == - ]]; then
        (exec setsid "$@" </dev/null) &
    else
        (exec setsid "$@" </dev/null >>"$log" 2>&1) &
    fi
    pids+=("$!")
}

mkdir -p "$RUN"
# /readyz of another worker on our port would look like ours: refuse to start beside one.
if (exec 3<>"/dev/tcp/127.0.0.1/$SLA_WEB_PORT") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$SLA_WEB_PORT: stop it or set SLA_WEB_PORT"
fi
say "starting Kafka on 127.0.0.1:$KAFKA_PORT (state in ${KAFKA_STATE_DIR#"$ROOT"/})"
if ((fresh_state)) && ! bash "$KAFKA" status >/dev/null 2>&1; then
    rm -rf "$KAFKA_STATE_DIR" "$SLA_DATA_DIR"
fi
broker_up=1
bash "$KAFKA" up

say "creating topics"
"$BIN/sla-worker" topics create

say "starting the worker (policy demo, log ${WORKER_LOG#"$ROOT"/})"
: >"$WORKER_LOG"
start "$WORKER_LOG" "$BIN/sla-worker" run
worker_pid="${pids[-1]}"
ready_url="http://127.0.0.1:$SLA_WEB_PORT/readyz"
started=$SECONDS
until "$BIN/python" -c 'import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=1).status == 200 else 1)
except Exception:
    sys.exit(1)' "$ready_url"; do
    if ! alive "$worker_pid"; then
        tail -n 30 "$WORKER_LOG" >&2
        die "the worker exited during start-up (log above, in $WORKER_LOG)"
    fi
    if ((SECONDS - started >= READY_TIMEOUT_S)); then
        tail -n 30 "$WORKER_LOG" >&2
        die "the worker was not ready within ${READY_TIMEOUT_S}s ($ready_url)"
    fi
    sleep 0.5
done
say "worker ready in $((SECONDS - started))s"

cat <<EOF

  What you see: the SLA worker watching synthetic support tickets under the demo policy
  (deploy/policies/demo.yaml: gold first response P1 2m / P2 5m / P3 10m, silver 5m/10m/20m,
  free measured only). Each line is an event the worker published:
    WARN     a target is running out (50/75/90% of its budget used, or 1m left)
    BREACH   a deadline passed without a response or resolution
    OUTCOME  targets met and breached in the last 10 s, and compliance per tier so far
  Metrics:   http://127.0.0.1:$SLA_WEB_PORT/metrics      (also /healthz, /readyz)
  Logs:      ${WORKER_LOG#"$ROOT"/}, ${LOADGEN_LOG#"$ROOT"/}
  Stop:      Ctrl-C

EOF

# The feed starts before the traffic and reads the output topics from their beginning, so
# it misses nothing.
start - "$BIN/sla-worker" feed --from-beginning
say "starting demo traffic: $RATE tickets/s, $LATE late, $NEVER never answered, $BACKDATE of history first"
: >"$LOADGEN_LOG"
start "$LOADGEN_LOG" "$BIN/sla-worker" loadgen --rate "$RATE" --late "$LATE" --never "$NEVER" \
    --backdate "$BACKDATE"

# Waits for any of them to end (a crash ends the demo); a signal interrupts the wait at once.
while true; do
    for pid in "${pids[@]}"; do
        if ! alive "$pid"; then
            echo "demo: pid $pid ended unexpectedly; see the logs" >&2
            tail -n 20 "$WORKER_LOG" >&2 || true
            exit 1
        fi
    done
    wait -n "${pids[@]}" 2>/dev/null || true
done
