#!/usr/bin/env bash
# Project-local services for development, tests and the demo (docs/ARCHITECTURE.md §2).
#
#   scripts/services.sh [up|status|down|env]
#
#   up      (default) install what is missing (apt), build TimescaleDB when its library is
#           absent, start a project-local PostgreSQL 15 cluster (with TimescaleDB preloaded)
#           and a project-local Redis. Idempotent: running services are left alone.
#   status  report both services; exit 0 when both run, 3 otherwise.
#   down    stop both cleanly. Idempotent.
#   env     print the export lines for TRACKER_DATABASE_URL and TRACKER_REDIS_URL.
#
# Everything lives under <repo>/.services/ (git-ignored). The services listen on 127.0.0.1
# only, on their own ports, so they never collide with a system PostgreSQL (5432) or Redis
# (6379), which this script never touches.
#
# Environment:
#   TRACKER_PG_PORT     PostgreSQL port (default 55432)
#   TRACKER_REDIS_PORT  Redis port (default 56379)
# When a default port is taken by something else (another checkout's services, say), `up` picks
# a free port instead and remembers it in .services/ports; `env` prints the URLs to use.
#
# Must run as root (it installs packages and runs PostgreSQL as the `postgres` user).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
SVC="$ROOT/.services"

PORTS_FILE="$SVC/ports"
SAVED_PG_PORT="" SAVED_REDIS_PORT=""
if [[ -f "$PORTS_FILE" ]]; then
    SAVED_PG_PORT="$(sed -n 's/^pg=//p' "$PORTS_FILE")"
    SAVED_REDIS_PORT="$(sed -n 's/^redis=//p' "$PORTS_FILE")"
fi
PG_PORT="${TRACKER_PG_PORT:-${SAVED_PG_PORT:-55432}}"
REDIS_PORT="${TRACKER_REDIS_PORT:-${SAVED_REDIS_PORT:-56379}}"

PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
PG_CONFIG="$PG_BIN/pg_config"
PG_DIR="$SVC/pg"
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG_DIR="$PG_DIR/log"
PG_LOG="$PG_LOG_DIR/postgresql.log"
PG_DB=tracker

REDIS_DIR="$SVC/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

BUILD_DIR="$SVC/build"
APT_LOG="$SVC/apt.log"

DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/$PG_DB"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

APT_PACKAGES=(
    postgresql-15 postgresql-client-15 postgresql-server-dev-15
    redis-server redis-tools
    cmake gcc make libssl-dev xz-utils
    dpkg-dev            # `apt-get source` needs dpkg-dev
    debian-archive-keyring
)

# --------------------------------------------------------------------------- helpers

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

as_pg() { runuser -u postgres -- "$@"; }

check_port() {
    local name=$1 value=$2
    [[ "$value" =~ ^[0-9]+$ ]] && ((value >= 1024 && value <= 65535)) \
        || die "$name must be a port number between 1024 and 65535 (got '$value')"
}

need_root() {
    [[ $EUID -eq 0 ]] || die "'$1' must run as root (it installs packages and runs PostgreSQL as the postgres user)"
}

# Serialise concurrent invocations (two `up`s at once would race on initdb and the build).
# The daemons are started with fd 9 closed, or they would hold the lock for their lifetime.
take_lock() {
    mkdir -p "$SVC"
    exec 9>"$SVC/.lock"
    flock -w 600 9 || die "another services.sh holds $SVC/.lock"
}

# --------------------------------------------------------------------------- apt

APT_UPDATED=0

apt_quiet() {
    # Run an apt command with its output in .services/apt.log; show the tail on failure.
    if ! DEBIAN_FRONTEND=noninteractive "$@" >>"$APT_LOG" 2>&1; then
        tail -n 25 "$APT_LOG" >&2 || true
        die "'$*' failed (full output in $APT_LOG)"
    fi
}

ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    say "installing ${missing[*]} (apt output in $APT_LOG)"
    if ((APT_UPDATED == 0)); then
        apt_quiet apt-get update
        APT_UPDATED=1
    fi
    apt_quiet apt-get install -y --no-install-recommends "${missing[@]}"
}

# The machine's Debian mirror URI, from its own apt configuration (never hard-coded here).
# Prefers the deb822 stanza whose suite is this release's codename; falls back to the first
# non-security stanza, then to the one-line /etc/apt/sources.list.
machine_mirror() {
    local codename uri files=()
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    shopt -s nullglob
    files=(/etc/apt/sources.list.d/*.sources)
    shopt -u nullglob
    if ((${#files[@]})); then
        uri="$(awk -v want="$codename" '
            function flush() {
                if (uris != "" && enabled != "no" && types ~ /(^|[ \t])deb(-src)?([ \t]|$)/ \
                    && uris !~ /^cdrom:/) {
                    n = split(suites, s, /[ \t]+/)
                    for (i = 1; i <= n; i++) {
                        if (s[i] == want && best == "") best = uris
                        if (s[i] != "" && s[i] !~ /security/ && any == "") any = uris
                    }
                }
                types = uris = suites = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                line = $0; key = tolower(line); sub(/:.*/, "", key)
                val = line; sub(/^[^:]*:[ \t]*/, "", val)
                if (key == "types") types = val
                else if (key == "uris") { split(val, u, /[ \t]+/); uris = u[1] }
                else if (key == "suites") suites = val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { flush(); print (best != "" ? best : any) }
        ' "${files[@]}")"
    fi
    if [[ -z "${uri:-}" && -r /etc/apt/sources.list ]]; then
        uri="$(awk '
            /^[ \t]*deb(-src)?[ \t]/ {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
                if ($(i) !~ /^cdrom:/ && $(i + 1) !~ /security/) { print $(i); exit }
            }' /etc/apt/sources.list)"
    fi
    [[ -n "${uri:-}" ]] || die "cannot find a Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
    printf '%s\n' "${uri%/}"
}

# --------------------------------------------------------------------------- TimescaleDB

timescaledb_built() {
    [[ -x "$PG_CONFIG" ]] || return 1
    [[ -f "$("$PG_CONFIG" --pkglibdir)/timescaledb.so" ]]
}

build_timescaledb() {
    timescaledb_built && return 0

    # Signature checking stays on. Trixie's Release file is signed by the Debian 13 archive
    # keys; bookworm's debian-archive-keyring (2023.3+deb12u1 and later) already carries them,
    # both in the combined keyring and as debian-archive-trixie-*.gpg. So we use the combined
    # keyring with signed-by and never fall back to [trusted=yes]. An older keyring package is
    # upgraded from the machine's own (bookworm) sources first.
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    if [[ ! -f /usr/share/keyrings/debian-archive-trixie-automatic.gpg ]]; then
        say "debian-archive-keyring lacks the Debian 13 (trixie) keys; upgrading it"
        if ((APT_UPDATED == 0)); then apt_quiet apt-get update; APT_UPDATED=1; fi
        apt_quiet apt-get install -y --no-install-recommends --only-upgrade debian-archive-keyring
        [[ -f /usr/share/keyrings/debian-archive-trixie-automatic.gpg ]] \
            || die "no trixie signing key in $keyring; cannot verify the timescaledb source package"
    fi

    local mirror apt_dir sources t0
    mirror="$(machine_mirror)"
    apt_dir="$SVC/apt-trixie"
    sources="$apt_dir/sources.list"
    t0=$SECONDS
    say "building TimescaleDB from Debian trixie's source package (mirror $mirror)"

    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$BUILD_DIR"
    # A private apt configuration: the machine's sources, lists and cache stay untouched.
    printf 'deb-src [signed-by=%s] %s trixie main\n' "$keyring" "$mirror" >"$sources"
    local apt_opts=(
        -o "Dir::Etc::SourceList=$sources"
        -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt_dir/lists"
        -o "Dir::Cache=$apt_dir/cache"
        -o Acquire::Languages=none
        # The private folders may sit below a directory _apt cannot enter (mktemp -d);
        # download as root instead of apt's sandbox user.
        -o APT::Sandbox::User=root
    )
    apt_quiet apt-get "${apt_opts[@]}" update

    local src="$BUILD_DIR/src"
    rm -rf "$src"
    mkdir -p "$src"
    (cd "$src" && apt_quiet apt-get "${apt_opts[@]}" source --download-only timescaledb)

    local orig
    orig="$(find "$src" -maxdepth 1 -name 'timescaledb_*.orig.tar.*' | sort | tail -n 1)"
    [[ -n "$orig" ]] || die "no timescaledb .orig tarball was downloaded (see $APT_LOG)"
    say "unpacking $(basename "$orig")"
    mkdir -p "$src/tree"
    tar -xf "$orig" -C "$src/tree"
    local tree
    tree="$(find "$src/tree" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
    [[ -n "$tree" && -x "$tree/bootstrap" ]] || die "unexpected layout in $orig (no bootstrap script)"

    local build_log="$BUILD_DIR/build.log"
    : >"$build_log"
    if ! (cd "$tree" \
        && ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
            -DPG_CONFIG="$PG_CONFIG" \
        && make -C build -j2 install) >>"$build_log" 2>&1; then
        tail -n 30 "$build_log" >&2 || true
        die "TimescaleDB build failed (full output in $build_log)"
    fi
    timescaledb_built || die "TimescaleDB installed, but timescaledb.so is not in $("$PG_CONFIG" --pkglibdir)"
    say "TimescaleDB $(basename "$orig" | sed -E 's/^timescaledb_([0-9]+(\.[0-9]+)*).*/\1/') built and installed in $((SECONDS - t0))s"
}

# --------------------------------------------------------------------------- PostgreSQL

# CI clones into `mktemp -d` folders (mode 700, owned by root) that the postgres user cannot
# enter. Grant only the traverse bit, and only on the ancestors that lack it for postgres.
ensure_pg_can_traverse() {
    as_pg test -x "$SVC" && return 0
    local dir="" part fixed=()
    local IFS=/
    for part in $SVC; do
        [[ -n "$part" ]] || continue
        dir="$dir/$part"
        if ! as_pg test -x "$dir"; then
            chmod o+x "$dir"
            fixed+=("$dir")
        fi
    done
    unset IFS
    ((${#fixed[@]})) && say "granted o+x (traverse only) on ${fixed[*]} so the postgres user can reach $SVC"
    as_pg test -x "$SVC" || die "the postgres user still cannot reach $SVC"
}

# Memory-dependent settings: tuned for a 2-core / 24 GiB machine, scaled down on smaller ones.
pg_memory_settings() {
    local mem_mb
    mem_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
    local sb=$((mem_mb / 8)) ecs=$((mem_mb / 2)) mwm=$((mem_mb / 32))
    ((sb > 2048)) && sb=2048
    ((sb < 128)) && sb=128
    ((ecs > 12288)) && ecs=12288
    ((mwm > 512)) && mwm=512
    ((mwm < 64)) && mwm=64
    printf "shared_buffers = '%dMB'\neffective_cache_size = '%dMB'\nmaintenance_work_mem = '%dMB'\n" \
        "$sb" "$ecs" "$mwm"
}

write_pg_config() {
    local conf="$PG_DATA/tracker.conf"
    cat >"$conf" <<EOF
# Written by scripts/services.sh on every 'up'; edits here are overwritten.
# Changes take effect after 'scripts/services.sh down && scripts/services.sh up'.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 200

shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
timescaledb.max_background_workers = 4
max_worker_processes = 16
max_parallel_workers = 2
max_parallel_workers_per_gather = 1

# memory (heavy ingest, 2 cores / 24 GiB)
$(pg_memory_settings)
work_mem = '16MB'
wal_buffers = '64MB'

# durability: an acknowledged fix is a committed fix
fsync = on
synchronous_commit = on
full_page_writes = on

# WAL and checkpoints sized for sustained COPY ingest
wal_compression = on
max_wal_size = '8GB'
min_wal_size = '1GB'
checkpoint_timeout = '15min'
checkpoint_completion_target = 0.9

# SSD-class storage
random_page_cost = 1.1
effective_io_concurrency = 200

timezone = 'UTC'
log_timezone = 'UTC'
log_checkpoints = on
log_min_duration_statement = '1s'
EOF
    # Development cluster: trust authentication, reachable only over the local socket and
    # 127.0.0.1. Never use this set-up for anything exposed.
    cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# Written by scripts/services.sh. DEVELOPMENT cluster: trust auth, loopback only.
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  trust
host    all          all   127.0.0.1/32   trust
local   replication  all                  trust
host    replication  all   127.0.0.1/32   trust
EOF
    grep -q "^include_if_exists = 'tracker.conf'" "$PG_DATA/postgresql.conf" \
        || printf "\ninclude_if_exists = 'tracker.conf'\n" >>"$PG_DATA/postgresql.conf"
    chown postgres:postgres "$conf" "$PG_DATA/pg_hba.conf"
    chmod 600 "$conf" "$PG_DATA/pg_hba.conf"
}

# 0 = running, 3 = not running (as pg_ctl status).
pg_running() {
    if [[ $EUID -ne 0 ]]; then  # `status` as an ordinary user: the data folder is private
        pg_ready || return 3
        return 0
    fi
    [[ -f "$PG_DATA/PG_VERSION" ]] || return 3
    as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1 || return 3
}

pg_running_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null; }

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U postgres; }

pg_sql() {
    local db=$1
    shift
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" -tA "$@"
}

start_pg() {
    # A unix socket path is limited to 107 bytes.
    local sock="$PG_RUN/.s.PGSQL.$PG_PORT"
    ((${#sock} <= 100)) || die "socket path $sock is too long for a unix socket; move the checkout to a shorter path"

    mkdir -p "$PG_DIR"
    ensure_pg_can_traverse
    install -d -o postgres -g postgres -m 700 "$PG_DATA"
    install -d -o postgres -g postgres -m 755 "$PG_RUN" "$PG_LOG_DIR"

    if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
        say "creating the PostgreSQL $PG_MAJOR cluster in $PG_DATA"
        as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >"$PG_LOG_DIR/initdb.log" 2>&1 \
            || { tail -n 20 "$PG_LOG_DIR/initdb.log" >&2; die "initdb failed (see $PG_LOG_DIR/initdb.log)"; }
    fi

    if pg_running; then
        local running_port
        running_port="$(pg_running_port)"
        [[ "$running_port" == "$PG_PORT" ]] \
            || die "the project PostgreSQL already runs on port $running_port, not $PG_PORT; run '$0 down' first"
        pg_ready || die "the project PostgreSQL (pid $(head -n 1 "$PG_DATA/postmaster.pid")) runs but does not answer on port $PG_PORT; see $PG_LOG"
        say "PostgreSQL already running on 127.0.0.1:$PG_PORT"
    else
        if [[ -f "$PG_DATA/postmaster.pid" ]]; then
            say "removing stale PostgreSQL pid file"
            rm -f "$PG_DATA/postmaster.pid"
        fi
        write_pg_config
        say "starting PostgreSQL on 127.0.0.1:$PG_PORT (log $PG_LOG)"
        if ! as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 120 >/dev/null 9>&-; then
            tail -n 20 "$PG_LOG" >&2 || true
            die "PostgreSQL did not start (see $PG_LOG)"
        fi
    fi

    local i
    for ((i = 0; i < 60; i++)); do
        pg_ready && break
        sleep 1
    done
    pg_ready || die "PostgreSQL does not accept connections on 127.0.0.1:$PG_PORT (see $PG_LOG)"

    if [[ "$(pg_sql postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]]; then
        say "creating database $PG_DB"
        pg_sql postgres -c "CREATE DATABASE $PG_DB OWNER postgres" >/dev/null
    fi
    pg_ready || die "database $PG_DB does not accept connections"
}

stop_pg() {
    if pg_running; then
        say "stopping PostgreSQL (port $(pg_running_port))"
        as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 120 >/dev/null \
            || die "PostgreSQL did not stop (see $PG_LOG)"
    else
        say "PostgreSQL is not running"
    fi
}

# --------------------------------------------------------------------------- Redis

redis_pid() {
    local pid
    [[ -f "$REDIS_PID" ]] || return 1
    pid="$(tr -dc '0-9' <"$REDIS_PID")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid belonging to something else.
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == *redis* ]] || return 1
    printf '%s\n' "$pid"
}

redis_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

# The Redis answering on our port is ours if its working directory is ours.
redis_is_ours() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get dir 2>/dev/null | sed -n 2p)" == "$REDIS_DIR" ]]
}

start_redis() {
    mkdir -p "$REDIS_DIR"
    local pid i
    if pid="$(redis_pid)"; then
        for ((i = 0; i < 30; i++)); do redis_ping && break; sleep 1; done  # may be loading its AOF
        redis_ping && redis_is_ours \
            || die "the project Redis (pid $pid) runs but does not answer as ours on port $REDIS_PORT; run '$0 down' first"
        say "Redis already running on 127.0.0.1:$REDIS_PORT"
        return 0
    fi
    if [[ -f "$REDIS_PID" ]]; then
        say "removing stale Redis pid file"
        rm -f "$REDIS_PID"
    fi
    if redis_ping; then
        redis_is_ours || die "port $REDIS_PORT is taken by another Redis; set TRACKER_REDIS_PORT"
        say "Redis already running on 127.0.0.1:$REDIS_PORT (pid file was missing)"
        return 0
    fi
    say "starting Redis on 127.0.0.1:$REDIS_PORT (log $REDIS_LOG)"
    # AOF with fsync every second: the Redis stream is the fast path; the database remains
    # the source of truth, so at most a second of stream entries can need a catch-up.
    redis-server --daemonize yes \
        --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
        --dir "$REDIS_DIR" --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" \
        --appendonly yes --appendfsync everysec 9>&- \
        || die "redis-server failed to start (see $REDIS_LOG)"
    for ((i = 0; i < 60; i++)); do redis_ping && break; sleep 0.5; done
    redis_ping || { tail -n 20 "$REDIS_LOG" >&2 || true; die "Redis does not answer on 127.0.0.1:$REDIS_PORT (see $REDIS_LOG)"; }
}

stop_redis() {
    local pid i
    if pid="$(redis_pid)"; then
        say "stopping Redis (pid $pid)"
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && die "Redis (pid $pid) did not stop"
        rm -f "$REDIS_PID"
    elif redis_ping && redis_is_ours; then
        say "stopping Redis on port $REDIS_PORT (pid file was missing)"
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
    else
        rm -f "$REDIS_PID"
        say "Redis is not running"
    fi
}

# --------------------------------------------------------------------------- commands

cmd_env() {  # URLs already set in the environment (external services) win
    printf 'export TRACKER_DATABASE_URL=%s\n' "${TRACKER_DATABASE_URL:-$DATABASE_URL}"
    printf 'export TRACKER_REDIS_URL=%s\n' "${TRACKER_REDIS_URL:-$REDIS_URL}"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port_from() {  # the first port from $1 up that nothing listens on
    local port=$1
    while port_busy "$port"; do port=$((port + 1)); done
    printf '%s\n' "$port"
}

# A default port taken by something that is not this checkout's service: move to a free one.
choose_ports() {
    local moved=""
    if [[ -z "${TRACKER_PG_PORT:-}" ]] && ! pg_running && port_busy "$PG_PORT"; then
        PG_PORT="$(free_port_from $((PG_PORT + 1)))"
        moved=1
        say "port of PostgreSQL taken by another process; using $PG_PORT"
    fi
    if [[ -z "${TRACKER_REDIS_PORT:-}" ]] && ! redis_pid >/dev/null && port_busy "$REDIS_PORT" \
        && ! redis_is_ours; then
        REDIS_PORT="$(free_port_from $((REDIS_PORT + 1)))"
        moved=1
        say "port of Redis taken by another process; using $REDIS_PORT"
    fi
    if [[ -n "$moved" ]]; then
        mkdir -p "$SVC"
        printf 'pg=%s\nredis=%s\n' "$PG_PORT" "$REDIS_PORT" >"$PORTS_FILE"
        DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/$PG_DB"
        REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    fi
}

cmd_up() {
    need_root up
    take_lock
    ensure_packages "${APT_PACKAGES[@]}"
    build_timescaledb
    choose_ports
    start_pg
    start_redis
    say "ready"
    printf 'TRACKER_DATABASE_URL=%s\n' "$DATABASE_URL"
    printf 'TRACKER_REDIS_URL=%s\n' "$REDIS_URL"
}

cmd_status() {
    local ok=1
    if [[ -x "$PG_BIN/pg_ctl" ]] && pg_running && pg_ready; then
        local ts pre inst lic
        ts="$(pg_sql postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'" 2>/dev/null || true)"
        pre="$(pg_sql postgres -c "SHOW shared_preload_libraries" 2>/dev/null || true)"
        inst="$(pg_sql "$PG_DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'" 2>/dev/null || true)"
        # timescaledb.license only exists once the extension is loaded in a database.
        lic="$(pg_sql "$PG_DB" -c "SELECT current_setting('timescaledb.license', true)" 2>/dev/null || true)"
        say "postgresql: running on 127.0.0.1:$PG_PORT (data $PG_DATA)"
        if [[ -z "$ts" ]]; then
            say "timescaledb: NOT available"
        elif [[ ",${pre// /}," != *,timescaledb,* ]]; then
            say "timescaledb: $ts available but NOT in shared_preload_libraries"
        elif [[ -n "$inst" ]]; then
            say "timescaledb: $ts available and preloaded; extension $inst in database $PG_DB (license ${lic:-unknown})"
        else
            say "timescaledb: $ts available and preloaded; not yet created in database $PG_DB"
        fi
    else
        ok=0
        say "postgresql: not running (port $PG_PORT)"
        if timescaledb_built; then say "timescaledb: library installed"; else say "timescaledb: library NOT installed"; fi
    fi
    if redis_ping && redis_is_ours; then
        say "redis: running on 127.0.0.1:$REDIS_PORT (dir $REDIS_DIR)"
    else
        ok=0
        say "redis: not running (port $REDIS_PORT)"
    fi
    ((ok)) || exit 3
}

cmd_down() {
    need_root down
    take_lock
    if [[ -x "$PG_BIN/pg_ctl" ]]; then stop_pg; else say "PostgreSQL is not installed"; fi
    if command -v redis-cli >/dev/null; then stop_redis; else say "Redis is not installed"; fi
}

main() {
    check_port TRACKER_PG_PORT "$PG_PORT"
    check_port TRACKER_REDIS_PORT "$REDIS_PORT"
    [[ "$PG_PORT" != "$REDIS_PORT" ]] || die "TRACKER_PG_PORT and TRACKER_REDIS_PORT must differ"
    case "${1:-up}" in
        up) cmd_up ;;
        status) cmd_status ;;
        down) cmd_down ;;
        env) cmd_env ;;
        -h | --help | help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' ;;
        *) die "unknown command '$1' (use up, status, down or env)" ;;
    esac
}

main "$@"
