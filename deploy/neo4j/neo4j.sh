#!/usr/bin/env bash
# Dev/CI Neo4j 5.26 (embedded, Bolt only). Usage: deploy/neo4j/neo4j.sh up|down|status|restart|build|logs
# One server per data dir; run parallel instances with distinct KGR_NEO4J_DATA_DIR and KGR_NEO4J_PORT.
# Env: KGR_NEO4J_HOST (127.0.0.1) KGR_NEO4J_PORT (7687) KGR_NEO4J_DATA_DIR ($REPO/.data/neo4j)
#      KGR_NEO4J_PASSWORD (unset = auth off) KGR_NEO4J_HEAP (2g) KGR_NEO4J_PAGECACHE (1g)
#      KGR_NEO4J_START_TIMEOUT (120 s) JAVA_HOME / KGR_NEO4J_JAVA_OPTS (extra JVM flags)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
JAR="$HERE/target/kgreason-neo4j.jar"
HOST="${KGR_NEO4J_HOST:-127.0.0.1}"
PORT="${KGR_NEO4J_PORT:-7687}"
DATA="$(realpath -m "${KGR_NEO4J_DATA_DIR:-$REPO/.data/neo4j}")"
PIDFILE="$DATA/neo4j.pid"
READYFILE="$DATA/neo4j.ready"           # written by the launcher once fully started (password set)
OUT="$DATA/neo4j.out"                  # JVM stdout/stderr; Neo4j's own logs are in $DATA/logs/
HEAP="${KGR_NEO4J_HEAP:-2g}"
TIMEOUT="${KGR_NEO4J_START_TIMEOUT:-120}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Where clients connect: a wildcard listen address is reachable via loopback.
case "$HOST" in 0.0.0.0|::) CHECK_HOST=127.0.0.1 ;; *) CHECK_HOST="$HOST" ;; esac

# JVM flags: fixed heap (G1), plus the opens Neo4j's own neo4j.conf ships for Java 17
# (page cache / tx-log native access; without them it runs in a slower fallback mode).
JAVA_FLAGS=(
  "-Xms$HEAP" "-Xmx$HEAP" -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+DisableExplicitGC
  -XX:+ExitOnOutOfMemoryError -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true
  -Dlog4j2.disable.jmx=true --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --enable-native-access=ALL-UNNAMED
)

log() { echo "neo4j.sh: $*" >&2; }

cmdline_of() {  # full command line of a pid; never width-truncated
  # ps cuts `args` to $COLUMNS when that is set (CI shells often set 80), which would hide the
  # --data-dir at the end of the java line, so /proc first and `ps -ww` (unlimited width) after.
  if [[ -r "/proc/$1/cmdline" ]]; then tr '\0' ' ' <"/proc/$1/cmdline"; else ps -ww -p "$1" -o args= 2>/dev/null; fi
}

pid_alive() {  # our launcher, for this data dir, is running under the pid in the pid file
  [[ -f "$PIDFILE" ]] || return 1
  local pid args; pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  args="$(cmdline_of "$pid") " || return 1
  [[ "$args" == *"kgreason-neo4j.jar"* && "$args" == *"--data-dir $DATA "* ]]
}

bolt_answers() {  # real Bolt handshake if python3 exists, else a plain TCP connect
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$CHECK_HOST" "$PORT" <<'PY' 2>/dev/null
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    # magic + proposals: 5.8..5.0, 4.4, none, none
    s.sendall(bytes.fromhex("6060b017" "00080805" "00000404" "00000000" "00000000"))
    resp = b""
    while len(resp) < 4:
        chunk = s.recv(4 - len(resp))
        if not chunk:
            break
        resp += chunk
    sys.exit(0 if len(resp) == 4 and resp != b"\0\0\0\0" else 1)
except OSError:
    sys.exit(1)
PY
  else
    (exec 3<>"/dev/tcp/$CHECK_HOST/$PORT") 2>/dev/null
  fi
}

is_ready() {  # running, start-up finished, and Bolt answers
  pid_alive && [[ "$(cat "$READYFILE" 2>/dev/null)" == "$(cat "$PIDFILE")" ]] && bolt_answers
}

jar_stale() {
  [[ ! -f "$JAR" ]] || [[ -n "$(find "$HERE/pom.xml" "$HERE/src" -newer "$JAR" -print -quit)" ]]
}

build_jar() {  # (re)build if missing/stale; serialised with flock, jar swapped in by rename
  jar_stale || return 0
  command -v mvn >/dev/null 2>&1 || { log "ERROR: mvn not found and $JAR missing/stale"; return 1; }
  mkdir -p "$HERE/target"
  (
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    jar_stale || exit 0   # someone else built it while we waited
    log "building $JAR (mvn package)"
    mvn -q -B -f "$HERE/pom.xml" package -DskipTests "-Dkgr.buildDir=$HERE/target/build" >&2
    mv -f "$HERE/target/build/kgreason-neo4j.jar" "$JAR"
  ) 9>"$HERE/target/.build.lock"
}

tail_logs() {
  log "---- tail $OUT"; tail -n "${1:-40}" "$OUT" >&2 2>/dev/null || true
  log "---- tail $DATA/logs/debug.log"; tail -n "${1:-40}" "$DATA/logs/debug.log" >&2 2>/dev/null || true
}

cmd_up() {
  if pid_alive; then
    if is_ready; then
      log "already running (pid $(cat "$PIDFILE")), Bolt answers on bolt://$CHECK_HOST:$PORT"
      return 0
    fi
    log "running (pid $(cat "$PIDFILE")) but not ready yet; waiting"
  else
    rm -f "$PIDFILE"
    if bolt_answers; then
      log "ERROR: something else already answers Bolt on $CHECK_HOST:$PORT (not ours; no live pid in $PIDFILE)"
      return 1
    fi
    command -v "$JAVA" >/dev/null 2>&1 || { log "ERROR: java not found (need Java 17+)"; return 1; }
    build_jar
    mkdir -p "$DATA"
    rm -f "$READYFILE"
    # keep the store out of git without touching the repo's top-level .gitignore
    [[ -e "$DATA/.gitignore" ]] || echo '*' >"$DATA/.gitignore"
    # shellcheck disable=SC2086  # KGR_NEO4J_JAVA_OPTS is intentionally word-split
    nohup "$JAVA" "${JAVA_FLAGS[@]}" ${KGR_NEO4J_JAVA_OPTS:-} -jar "$JAR" \
      --host "$HOST" --port "$PORT" --data-dir "$DATA" >>"$OUT" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    log "started pid $! (data $DATA, heap $HEAP, pagecache ${KGR_NEO4J_PAGECACHE:-1g}); waiting for Bolt on $CHECK_HOST:$PORT"
  fi
  local start=$SECONDS
  while (( SECONDS - start < TIMEOUT )); do
    if ! pid_alive; then
      local pid; pid="$(cat "$PIDFILE" 2>/dev/null || true)"
      if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        # alive but not recognisable as ours: say so, and stop it rather than leave an orphan JVM
        log "ERROR: pid $pid is running but its command line does not match this launcher: $(cmdline_of "$pid" | cut -c1-300)"
        kill -TERM "$pid" 2>/dev/null || true
      else
        log "ERROR: Neo4j exited during start-up"
      fi
      tail_logs; rm -f "$PIDFILE"; return 1
    fi
    if is_ready; then
      log "up: bolt://$CHECK_HOST:$PORT (pid $(cat "$PIDFILE"), ${SECONDS}s after script start)"
      return 0
    fi
    sleep 0.5
  done
  log "ERROR: not ready (Bolt on $CHECK_HOST:$PORT + $READYFILE) within ${TIMEOUT}s (pid $(cat "$PIDFILE") still running; 'down' to stop it)"
  tail_logs
  return 1
}

cmd_down() {
  if ! pid_alive; then
    rm -f "$PIDFILE"; log "not running"; return 0
  fi
  local pid; pid="$(cat "$PIDFILE")"
  kill -TERM "$pid"   # shutdown hook checkpoints and closes the stores
  for _ in $(seq 1 120); do   # up to 60 s
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE" "$READYFILE"; log "stopped (pid $pid)"; return 0; }
    sleep 0.5
  done
  log "WARNING: pid $pid ignored SIGTERM for 60s; sending SIGKILL (next start will run recovery)"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE" "$READYFILE"
}

cmd_status() {
  if pid_alive; then
    if is_ready; then
      echo "running (pid $(cat "$PIDFILE")), Bolt answers on bolt://$CHECK_HOST:$PORT, data $DATA"; return 0
    fi
    echo "running (pid $(cat "$PIDFILE")) but NOT ready (starting, or Bolt not answering) on $CHECK_HOST:$PORT, data $DATA"; return 1
  fi
  if bolt_answers; then
    echo "not running (data $DATA), but something else answers Bolt on $CHECK_HOST:$PORT"; return 3
  fi
  echo "not running (data $DATA)"; return 3
}

case "${1:-}" in
  up|start) cmd_up ;;
  down|stop) cmd_down ;;
  status) cmd_status ;;
  restart) cmd_down && cmd_up ;;
  logs) tail_logs "${2:-100}" ;;
  build) build_jar ;;
  *) echo "usage: $0 up|down|status|restart|build|logs [N]" >&2; exit 2 ;;
esac
