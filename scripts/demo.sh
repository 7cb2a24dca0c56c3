#!/usr/bin/env bash
# The demo: the API and a simulated fleet on Monaco's real roads, in the background.
#   scripts/demo.sh up      (re)start both, then show positions arriving
#   scripts/demo.sh down    stop both
#   scripts/demo.sh status
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUN=.services/run
BIN=.venv/bin
API_PORT=${API_PORT:-8000}
DEMO_TRUCKS=${DEMO_TRUCKS:-40}
DEMO_JT808_TRUCKS=${DEMO_JT808_TRUCKS:-10}
JT808_PORT=${JT808_PORT:-6808}
export TRACKER_DATA_DIR=${TRACKER_DATA_DIR:-$ROOT/.data}
mkdir -p "$RUN" "$TRACKER_DATA_DIR"

alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

stop_one() {
  if alive "$1"; then
    local pid; pid=$(cat "$RUN/$1.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "demo: stopped $1"
  fi
  rm -f "$RUN/$1.pid"
}

start_bg() {  # name, command...
  local name=$1; shift
  nohup "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

healthz() { curl -fsS "http://127.0.0.1:$API_PORT/healthz" 2>/dev/null; }

up() {
  stop_one simulator
  stop_one simulator-jt808
  stop_one gateway
  stop_one engine
  stop_one api
  $BIN/tracker migrate
  $BIN/python -c "from pathlib import Path; from tracker.sim.data import ensure_monaco_pbf as e; \
print('demo: road data', e(Path('$TRACKER_DATA_DIR')))"
  $BIN/tracker seed --trucks "$DEMO_TRUCKS" --out "$TRACKER_DATA_DIR/demo-fleet.json"
  $BIN/tracker seed --trucks "$DEMO_JT808_TRUCKS" --prefix JT --out "$TRACKER_DATA_DIR/jt808-fleet.json"
  # A JT/T 808 auth code is handed out once. The demo's own terminals whose code the simulator does
  # not remember (a first run, or a database from before that rule) are reset, as an officer would.
  $BIN/python -c "import json; from pathlib import Path; from tracker.settings import Settings; \
from tracker.sim.jt808_terminal import AuthCodes, phone_for, register_terminals; \
codes = AuthCodes(Path('$TRACKER_DATA_DIR/jt808-auth-codes.json')); \
fleet = json.loads(Path('$TRACKER_DATA_DIR/jt808-fleet.json').read_text()); \
lost = [int(e['vehicle_id']) for e in fleet if codes.get(phone_for(int(e['vehicle_id']))) is None]; \
lost and register_terminals(Settings.load().database_url, lost)"
  # the city's construction sites and quarry as fences, and its roads for corridor proposals
  $BIN/tracker import osm "$TRACKER_DATA_DIR/monaco.osm.pbf" | tail -n 2
  # the sites and the yard the simulator drives between, and the fleet's approved permit
  $BIN/tracker seed --permits | sed 's/^/demo: /' \
    || echo "demo: no demo permit (see above): the engine will see trucks hauling without one" >&2
  start_bg api $BIN/tracker serve --host 127.0.0.1 --port "$API_PORT"
  for _ in $(seq 100); do healthz >/dev/null && break; sleep 0.2; done
  healthz >/dev/null || { echo "demo: the API did not start; see $RUN/api.log" >&2; exit 1; }
  echo "demo: API serving on http://127.0.0.1:$API_PORT (OpenAPI at /docs)"
  start_bg engine $BIN/tracker engine --shards all  # trips and incidents from the fix streams
  # --resume: a second `make demo` carries the trucks on from where they were last seen
  # --violators: the first trucks dump, deviate and cut their terminal within about 5 minutes
  start_bg simulator $BIN/tracker simulate --mode live --resume --violators --url "http://127.0.0.1:$API_PORT" \
    --fleet "$TRACKER_DATA_DIR/demo-fleet.json"
  # JT/T 808 terminals register by plate; the gateway fits them to the seeded vehicles.
  TRACKER_JT808__AUTO_REGISTER=true start_bg gateway $BIN/tracker gateway --port "$JT808_PORT"
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$JT808_PORT") 2>/dev/null && break; sleep 0.2; done
  start_bg simulator-jt808 $BIN/tracker simulate --protocol jt808 --resume \
    --gateway "127.0.0.1:$JT808_PORT" --mode live --fleet "$TRACKER_DATA_DIR/jt808-fleet.json"
  echo "demo: JT/T 808 gateway on 127.0.0.1:$JT808_PORT with $DEMO_JT808_TRUCKS simulated terminals"
  echo "demo: $DEMO_TRUCKS simulated trucks driving Monaco's roads (© OpenStreetMap contributors)"
  watch_arrivals 45
  cat <<TXT
demo: running in the background. Logs: $RUN/{api,engine,gateway,simulator,simulator-jt808}.log
  live map:         http://127.0.0.1:$API_PORT/map/#token=dev-staff-token   (read once, then kept in the tab)
  latest positions: curl -H 'Authorization: Bearer dev-staff-token' http://127.0.0.1:$API_PORT/api/v1/positions/latest
  a truck's track:  curl -H 'Authorization: Bearer dev-staff-token' 'http://127.0.0.1:$API_PORT/api/v1/vehicles/1/track'
  stop:             make stop   (API, gateway, simulators)   ·   make down (also PostgreSQL and Redis)
TXT
}

watch_arrivals() {  # seconds: show stored fixes growing until some have arrived
  local until=$((SECONDS + $1)) rows=0
  while (( SECONDS < until )); do
    rows=$(healthz | $BIN/python -c 'import json,sys; print(json.load(sys.stdin)["rows_committed"])' || echo 0)
    printf '\rdemo: positions stored so far: %s ' "$rows"
    if (( rows > 0 && SECONDS > until - $1 + 15 )); then break; fi
    alive simulator || { echo; echo "demo: the simulator stopped; see $RUN/simulator.log" >&2; exit 1; }
    sleep 1
  done
  echo
  (( rows > 0 )) || { echo "demo: no positions arrived; see $RUN/simulator.log" >&2; exit 1; }
}

status() {
  for name in api engine gateway simulator simulator-jt808; do
    if alive "$name"; then echo "demo: $name running (pid $(cat "$RUN/$name.pid"))"
    else echo "demo: $name not running"; fi
  done
}

case "${1:-up}" in
  up) up ;;
  down) stop_one simulator; stop_one simulator-jt808; stop_one gateway; stop_one engine; stop_one api ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
