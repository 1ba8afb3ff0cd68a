#!/usr/bin/env bash
# Installs, starts and stops the AWS-compatible emulators used by the integration tests:
#   kinesis   kinesis-mock (kinesis-local)           http://127.0.0.1:4568  (TLS port 4567)
#   dynamodb  DynamoDB Local (+ DynamoDB Streams)     http://127.0.0.1:8000
#   sqs       fauxqs (SQS, SNS, S3)                   http://127.0.0.1:4566
#
# Usage: scripts/emulators.sh install
#        scripts/emulators.sh start  [kinesis|dynamodb|sqs|all]   (default: all)
#        scripts/emulators.sh stop   [kinesis|dynamodb|sqs|all]
#        scripts/emulators.sh status [kinesis|dynamodb|sqs|all]
#
# Everything lives under $REPO/.emulators (git-ignored): node_modules, run/*.pid, run/*.log.
# Ports can be moved with STREAMLANES_KINESIS_PORT, STREAMLANES_DYNAMODB_PORT, STREAMLANES_SQS_PORT.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
EMU_DIR="${STREAMLANES_EMULATORS_DIR:-$REPO/.emulators}"
RUN_DIR="$EMU_DIR/run"
MODULES="$EMU_DIR/node_modules"
HOST=127.0.0.1

KINESIS_PORT="${STREAMLANES_KINESIS_PORT:-4568}"
KINESIS_TLS_PORT="${STREAMLANES_KINESIS_TLS_PORT:-4567}"
DYNAMODB_PORT="${STREAMLANES_DYNAMODB_PORT:-8000}"
SQS_PORT="${STREAMLANES_SQS_PORT:-4566}"
START_TIMEOUT_SECONDS="${STREAMLANES_EMULATOR_START_TIMEOUT:-60}"

log() { printf '[emulators] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

port_of() {
  case "$1" in
    kinesis) echo "$KINESIS_PORT" ;;
    dynamodb) echo "$DYNAMODB_PORT" ;;
    sqs) echo "$SQS_PORT" ;;
    *) die "unknown emulator '$1' (expected kinesis, dynamodb, sqs or all)" ;;
  esac
}

services_of() {
  case "${1:-all}" in
    all) echo "kinesis dynamodb sqs" ;;
    kinesis | dynamodb | sqs) echo "$1" ;;
    *) die "unknown emulator '$1' (expected kinesis, dynamodb, sqs or all)" ;;
  esac
}

# bash's /dev/tcp keeps this free of nc/curl, which a fresh machine may lack.
port_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

pid_file() { echo "$RUN_DIR/$1.pid"; }

running_pid() {
  local f
  f="$(pid_file "$1")"
  [[ -f "$f" ]] || return 1
  local pid
  pid="$(cat "$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  return 1
}

lock_hash() { sha256sum "$SCRIPT_DIR/emulators/package-lock.json" | cut -d' ' -f1; }

cmd_install() {
  command -v node >/dev/null || die "node is not installed (Node 20+ is needed)"
  command -v npm >/dev/null || die "npm is not installed"
  take_lock
  local stamp="$EMU_DIR/.installed" want
  want="$(lock_hash)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -d "$MODULES" ]]; then
    log "already installed ($EMU_DIR)"
    return 0
  fi
  log "installing emulators into $EMU_DIR (npm ci)"
  cp "$SCRIPT_DIR/emulators/package.json" "$SCRIPT_DIR/emulators/package-lock.json" "$EMU_DIR/"
  # --ignore-scripts: none of the three needs an install script, and skipping them keeps the
  # install from reaching anything but the registry.
  (cd "$EMU_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  echo "$want" >"$stamp"
  log "installed"
}

ensure_installed() {
  [[ -f "$EMU_DIR/.installed" && -d "$MODULES" ]] || cmd_install
}

start_kinesis() {
  local dir="$MODULES/kinesis-local"
  [[ -f "$dir/main.js" ]] || die "kinesis-local is not installed in $dir"
  # kinesis-mock reads server.json beside main.js, so it must run from its own folder.
  # The *_DURATION values default to 500ms; short ones keep stream creation and resharding tests fast.
  (
    cd "$dir"
    KINESIS_MOCK_PLAIN_PORT="$KINESIS_PORT" \
      KINESIS_MOCK_TLS_PORT="$KINESIS_TLS_PORT" \
      LOG_LEVEL="${KINESIS_LOG_LEVEL:-WARN}" \
      CREATE_STREAM_DURATION="${CREATE_STREAM_DURATION:-50ms}" \
      DELETE_STREAM_DURATION="${DELETE_STREAM_DURATION:-50ms}" \
      REGISTER_STREAM_CONSUMER_DURATION="${REGISTER_STREAM_CONSUMER_DURATION:-50ms}" \
      START_STREAM_ENCRYPTION_DURATION="${START_STREAM_ENCRYPTION_DURATION:-50ms}" \
      STOP_STREAM_ENCRYPTION_DURATION="${STOP_STREAM_ENCRYPTION_DURATION:-50ms}" \
      DEREGISTER_STREAM_CONSUMER_DURATION="${DEREGISTER_STREAM_CONSUMER_DURATION:-50ms}" \
      MERGE_SHARDS_DURATION="${MERGE_SHARDS_DURATION:-50ms}" \
      SHARD_LIMIT="${SHARD_LIMIT:-10000}" \
      SPLIT_SHARD_DURATION="${SPLIT_SHARD_DURATION:-50ms}" \
      UPDATE_SHARD_COUNT_DURATION="${UPDATE_SHARD_COUNT_DURATION:-50ms}" \
      UPDATE_STREAM_MODE_DURATION="${UPDATE_STREAM_MODE_DURATION:-50ms}" \
      SHOULD_PERSIST_DATA=false \
      exec setsid node --require "$SCRIPT_DIR/emulators/loopback.cjs" main.js
  ) >>"$RUN_DIR/kinesis.log" 2>&1 </dev/null 9>&- &
  echo $! >"$(pid_file kinesis)"
}

start_dynamodb() {
  command -v java >/dev/null || die "java is not installed (DynamoDB Local needs a JRE 17+)"
  local dir="$MODULES/amplify-dynamodb-simulator/emulator"
  [[ -f "$dir/DynamoDBLocal.jar" ]] || die "DynamoDB Local is not installed in $dir"
  # -sharedDb makes every access key and region see the same tables; -disableTelemetry keeps it off
  # the network. DynamoDB Local has no bind-address flag and listens on every interface, so with a
  # JDK (the source launcher needs jdk.compiler) a small launcher moves it onto 127.0.0.1.
  local args=(-inMemory -sharedDb -disableTelemetry -port "$DYNAMODB_PORT")
  local launcher=(-jar DynamoDBLocal.jar)
  if java --list-modules 2>/dev/null | grep -q '^jdk.compiler@'; then
    launcher=(-cp "DynamoDBLocal.jar:DynamoDBLocal_lib/*" "$SCRIPT_DIR/emulators/LoopbackDynamoDbLocal.java")
  else
    log "dynamodb: no JDK compiler found; DynamoDB Local will listen on every interface"
  fi
  (
    cd "$dir"
    exec setsid java -Xmx512m -Djava.library.path=./DynamoDBLocal_lib "${launcher[@]}" "${args[@]}"
  ) >>"$RUN_DIR/dynamodb.log" 2>&1 </dev/null 9>&- &
  echo $! >"$(pid_file dynamodb)"
}

start_sqs() {
  local cli="$MODULES/fauxqs/dist/cli.js"
  [[ -f "$cli" ]] || die "fauxqs is not installed in $cli"
  (
    cd "$EMU_DIR"
    FAUXQS_PORT="$SQS_PORT" FAUXQS_LOGGER=false \
      exec setsid node --require "$SCRIPT_DIR/emulators/loopback.cjs" "$cli"
  ) >>"$RUN_DIR/sqs.log" 2>&1 </dev/null 9>&- &
  echo $! >"$(pid_file sqs)"
}

wait_for_port() {
  local name="$1" port="$2" pid="$3"
  local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
  until port_open "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before opening port $port; last log lines:"
      tail -n 30 "$RUN_DIR/$name.log" >&2 || true
      rm -f "$(pid_file "$name")"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$name did not open port $port within ${START_TIMEOUT_SECONDS}s; last log lines:"
      tail -n 30 "$RUN_DIR/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# Serializes install, start and stop across concurrent callers (parallel test processes, a person at a shell), so
# that two callers never launch the same emulator twice. The emulators are launched with fd 9 closed: an inherited
# copy would hold the lock for as long as they run.
LOCKED=0
take_lock() {
  ((LOCKED)) && return 0
  LOCKED=1
  mkdir -p "$RUN_DIR"
  if command -v flock >/dev/null; then
    exec 9>"$RUN_DIR/script.lock"
    flock -w 600 9 || die "could not lock $RUN_DIR/script.lock"
  fi
}

cmd_start() {
  take_lock
  ensure_installed
  local name port pid failed=0
  for name in $(services_of "${1:-all}"); do
    port="$(port_of "$name")"
    if port_open "$port"; then
      log "$name: port $port already answers; not starting another"
      continue
    fi
    log "$name: starting on $HOST:$port"
    "start_$name"
    pid="$(cat "$(pid_file "$name")")"
    if wait_for_port "$name" "$port" "$pid"; then
      log "$name: ready on $HOST:$port (pid $pid, log $RUN_DIR/$name.log)"
    else
      failed=1
    fi
  done
  return "$failed"
}

cmd_stop() {
  local name pid
  take_lock
  for name in $(services_of "${1:-all}"); do
    if pid="$(running_pid "$name")"; then
      log "$name: stopping pid $pid"
      # setsid made the emulator its own process group leader: end the group, then wait briefly.
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      fi
    else
      log "$name: not started by this script"
    fi
    rm -f "$(pid_file "$name")"
  done
}

cmd_status() {
  local name port pid state rc=0
  for name in $(services_of "${1:-all}"); do
    port="$(port_of "$name")"
    if port_open "$port"; then state="up"; else state="down"; rc=1; fi
    if pid="$(running_pid "$name")"; then pid="pid $pid"; else pid="not started by this script"; fi
    printf '%-9s %s:%s %-5s (%s)\n' "$name" "$HOST" "$port" "$state" "$pid"
  done
  return "$rc"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start "${2:-all}" ;;
  stop) cmd_stop "${2:-all}" ;;
  status) cmd_status "${2:-all}" ;;
  *)
    echo "usage: $0 install | start [kinesis|dynamodb|sqs|all] | stop [...] | status [...]" >&2
    exit 2
    ;;
esac
