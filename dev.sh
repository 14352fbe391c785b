#!/usr/bin/env bash
# Shelfguard's developer entry point: one command each to try, test and lint.
#
#   ./dev.sh demo [args]     set up the demo library and serve it
#   ./dev.sh test [args]     the whole suite on SQLite, then on PostgreSQL
#   ./dev.sh lint [args]     ruff, when it is installed
#
# CI runs `./dev.sh test` (see .ci/run), so a green run here is a green run there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

VENV="$ROOT/.venv"
PG_MIN_MAJOR=15
CHROMIUM=/usr/bin/chromium

say() { printf '%s\n' "$*"; }
warn() { printf 'dev.sh: %s\n' "$*" >&2; }
die() {
    warn "$*"
    exit 1
}

usage() {
    cat <<'EOF'
usage: ./dev.sh COMMAND [args]

Commands:
  demo [args]     create .venv if needed, install Shelfguard, run `shelfguard demo [args]`
  test [args]     run the whole test suite twice: on SQLite, then on a throwaway
                  PostgreSQL server started for the run; args go to pytest
                    --sqlite-only     skip the PostgreSQL run
                    --postgres-only   skip the SQLite run
  lint [args]     run `ruff check` (args go to ruff; default: the whole tree)

`test` installs what it needs when run as root on Debian (PostgreSQL 15+,
Chromium); otherwise it says what to install. PG_BINDIR=/path/to/bin picks a
particular PostgreSQL installation.
EOF
}

# --- Python environment -----------------------------------------------------

# Install Shelfguard into .venv with the given extras ("" or "test"), unless the
# stamp says this exact pyproject.toml is already installed with them.
ensure_venv() {
    local extras=$1
    if [[ ! -e $VENV ]]; then
        command -v python3 >/dev/null || die "python3 is not installed; Shelfguard needs Python 3.11 or newer."
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
            die "python3 is $(python3 -V 2>&1 | cut -d' ' -f2); Shelfguard needs Python 3.11 or newer."
        say "Creating the virtual environment .venv ..."
        python3 -m venv "$VENV" ||
            die "could not create .venv; install Python's venv module (Debian: apt-get install python3-venv) and retry."
    fi
    "$VENV/bin/python" -c '' 2>/dev/null ||
        die ".venv/bin/python does not run (a broken venv, or one this account cannot use); delete .venv with \`rm -rf .venv\` and retry."

    local digest stamp spec=.
    digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
    stamp="$VENV/.shelfguard-installed${extras:+-$extras}"
    if [[ -f $stamp && $(<"$stamp") == "$digest" ]]; then
        return 0
    fi
    if [[ -n $extras ]]; then
        spec=".[$extras]"
    fi
    say "Installing Shelfguard into .venv (pip install -e '$spec') ..."
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" </dev/null ||
        die "pip install -e '$spec' failed; see the messages above."
    printf '%s\n' "$digest" >"$stamp"
    # An install with extras includes the plain install.
    printf '%s\n' "$digest" >"$VENV/.shelfguard-installed"
}

# --- System packages ----------------------------------------------------------

# The major version of the PostgreSQL whose programs are in directory $1.
pg_major() {
    local out
    out=$("$1/initdb" --version 2>/dev/null) || return 1
    [[ $out =~ \(PostgreSQL\)\ ([0-9]+) ]] || return 1
    printf '%s\n' "${BASH_REMATCH[1]}"
}

# Print the bin directory of the newest PostgreSQL server (15 or newer) on this
# machine, or nothing. $PG_BINDIR, when set, is the only candidate.
find_pg_bindir() {
    local -a candidates=()
    local dir major best="" best_major=0
    if [[ -n ${PG_BINDIR:-} ]]; then
        candidates=("$PG_BINDIR")
    else
        if command -v pg_config >/dev/null; then
            candidates+=("$(pg_config --bindir 2>/dev/null || true)")
        fi
        candidates+=(/usr/lib/postgresql/*/bin)
    fi
    for dir in "${candidates[@]}"; do
        [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl && -x $dir/createdb ]] || continue
        major=$(pg_major "$dir") || continue
        if ((major > best_major)); then
            best=$dir
            best_major=$major
        fi
    done
    if ((best_major >= PG_MIN_MAJOR)); then
        printf '%s\n' "$best"
    fi
}

# Make sure PostgreSQL (when $1 is 1), Chromium and age are installed: as root with
# apt-get, install them; otherwise say what is missing and stop.
ensure_system_packages() {
    local need_pg=$1
    local -a packages=() missing=()
    if [[ $need_pg == 1 && -z $(find_pg_bindir) ]]; then
        if [[ -n ${PG_BINDIR:-} ]]; then
            die "PG_BINDIR=$PG_BINDIR does not hold a PostgreSQL $PG_MIN_MAJOR+ server (initdb, pg_ctl, createdb)."
        fi
        packages+=(postgresql)
        missing+=("PostgreSQL $PG_MIN_MAJOR or newer (server programs initdb and pg_ctl)")
    fi
    if [[ ! -x $CHROMIUM ]]; then
        packages+=(chromium fonts-liberation)
        missing+=("Chromium at $CHROMIUM (the browser tests drive it headless)")
    fi
    if ! command -v age >/dev/null; then
        packages+=(age)
        missing+=("the age tool (a test opens a Shelfguard backup with it, as a library would)")
    fi
    if [[ ! -e $VENV ]] && ! python3 -c 'import ensurepip' 2>/dev/null; then
        packages+=(python3-venv)
        missing+=("Python's venv module")
    fi
    ((${#packages[@]})) || return 0

    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
        warn "missing system software:"
        local item
        for item in "${missing[@]}"; do
            warn "  - $item"
        done
        if command -v apt-get >/dev/null; then
            warn "install it as root with:  apt-get install ${packages[*]}"
        else
            warn "install it with your system's package manager (Debian names: ${packages[*]})"
        fi
        if [[ " ${packages[*]} " == *" postgresql "* ]]; then
            warn "(PG_BINDIR=/path/to/bin picks a PostgreSQL installed elsewhere; --sqlite-only skips PostgreSQL.)"
        fi
        exit 1
    fi

    say "Installing system packages: ${packages[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null || die "apt-get update failed; see the messages above."
    apt-get install -y -qq --no-install-recommends "${packages[@]}" </dev/null ||
        die "apt-get install ${packages[*]} failed; see the messages above."

    if [[ $need_pg == 1 && -z $(find_pg_bindir) ]]; then
        die "the system's postgresql package is older than $PG_MIN_MAJOR; install PostgreSQL $PG_MIN_MAJOR+ (for example from the PostgreSQL project's apt repository) or set PG_BINDIR."
    fi
    [[ -x $CHROMIUM ]] || die "installing chromium did not provide $CHROMIUM."
}

# --- The throwaway PostgreSQL server ------------------------------------------

PG_BIN=""
PG_TMP=""
PG_PORT=""
PG_RUNNING=0
declare -a TMP_DIRS=()

# Run a command as the account that owns the throwaway cluster: initdb refuses
# root, so root hands the cluster to the `postgres` account.
as_cluster_owner() {
    if [[ $EUID -ne 0 ]]; then
        "$@"
    elif command -v runuser >/dev/null; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
    fi
}

free_port() {
    "$VENV/bin/python" - <<'EOF'
import socket

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

start_postgres() {
    PG_BIN=$(find_pg_bindir)
    [[ -n $PG_BIN ]] || die "no PostgreSQL $PG_MIN_MAJOR+ server found."
    if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        die "running as root, but there is no 'postgres' account to own the test server (initdb refuses root); create one with \`useradd --system postgres\` or run as an ordinary user."
    fi

    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/shelfguard-pg.XXXXXX")
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$PG_TMP"
    fi
    if ! as_cluster_owner test -w "$PG_TMP"; then
        die "the postgres account cannot write to $PG_TMP; point TMPDIR at a directory it can reach (for example /tmp)."
    fi
    as_cluster_owner mkdir "$PG_TMP/socket"

    local -a locale_args=(--no-locale)
    if locale -a 2>/dev/null | grep -qixE 'c\.utf-?8'; then
        locale_args=(--locale=C.UTF-8)
    fi
    say "Creating a throwaway PostgreSQL $(pg_major "$PG_BIN") cluster in $PG_TMP ..."
    # -A trust: the cluster listens on the loopback address only and lives for one run.
    if ! (cd "$PG_TMP" && as_cluster_owner "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres \
        -A trust -E UTF8 "${locale_args[@]}" --no-sync) >"$PG_TMP/initdb.log" 2>&1; then
        cat "$PG_TMP/initdb.log" >&2
        die "initdb failed; its output is above."
    fi

    # Durability is worthless for a cluster deleted after the run and costs test time.
    local options="-c listen_addresses=127.0.0.1 -k '$PG_TMP/socket'"
    options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    local attempt
    for attempt in 1 2 3 4 5; do
        PG_PORT=$(free_port)
        # The port may be taken between choosing and binding it; then try another.
        if (cd "$PG_TMP" && as_cluster_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" \
            -l "$PG_TMP/server.log" -o "$options -p $PG_PORT" -w -t 60 -s start) >/dev/null 2>&1; then
            PG_RUNNING=1
            break
        fi
    done
    if ((!PG_RUNNING)); then
        tail -n 20 "$PG_TMP/server.log" >&2 || true
        die "the PostgreSQL test server did not start (tried $attempt ports); its log is above."
    fi
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres shelfguard </dev/null ||
        die "could not create the database shelfguard on the test server."
    say "PostgreSQL test server listening on 127.0.0.1:$PG_PORT"
}

pg_ctl_stop() {
    (cd "$PG_TMP" && as_cluster_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m "$1" -w -t 30 -s stop) \
        >/dev/null 2>&1
}

stop_postgres() {
    if ((PG_RUNNING)); then
        if ! pg_ctl_stop fast && ! pg_ctl_stop immediate; then
            # Deleting the files of a running server would leave it unstoppable by pg_ctl.
            warn "could not stop the PostgreSQL test server; stop it with \`$PG_BIN/pg_ctl -D $PG_TMP/data stop\` and delete $PG_TMP."
            PG_RUNNING=0
            PG_TMP=""
            return 1
        fi
        PG_RUNNING=0
    fi
    if [[ -n $PG_TMP && -d $PG_TMP ]]; then
        rm -rf "$PG_TMP" || warn "could not delete $PG_TMP."
    fi
    PG_TMP=""
}

interrupted() {
    warn "interrupted; stopping the test server and removing temporary files."
    exit "$1"
}

cleanup() {
    stop_postgres || true
    local dir
    for dir in "${TMP_DIRS[@]}"; do
        rm -rf "$dir" || true
    done
}

# --- Test runs ------------------------------------------------------------------

declare -a RESULTS=()

describe_pytest_status() {
    case $1 in
        0) printf 'passed' ;;
        1) printf 'FAILED: some tests failed' ;;
        2) printf 'FAILED: interrupted' ;;
        3) printf 'FAILED: internal pytest error' ;;
        4) printf 'FAILED: pytest usage error' ;;
        5) printf 'FAILED: no tests were collected' ;;
        *) printf 'FAILED: exit status %s' "$1" ;;
    esac
}

banner() {
    local line="=================================================================="
    printf '\n%s\n  %s\n%s\n' "$line" "$*" "$line"
}

# run_suite LABEL [VAR=value ...] -- [pytest args ...]
# Runs pytest with a fresh data home and a clean environment; records the result.
run_suite() {
    local label=$1
    shift
    local -a assignments=()
    while (($#)) && [[ $1 != -- ]]; do
        assignments+=("$1")
        shift
    done
    shift

    local home
    home=$(mktemp -d "${TMPDIR:-/tmp}/shelfguard-test-home.XXXXXX")
    TMP_DIRS+=("$home")

    # Settings from the caller's shell would make this run differ from CI's.
    local -a unset_args=()
    local name
    for name in $(compgen -e); do
        case $name in
            # PG[A-Z]*: libpq's own variables (PGHOST, PGSSLMODE, ...), not PG_BINDIR.
            SHELFGUARD_* | DATABASE_URL | DJANGO_SETTINGS_MODULE | PG[A-Z]*)
                unset_args+=(-u "$name")
                ;;
        esac
    done

    banner "Test run: $label"
    say "${assignments[*]}${assignments[*]:+ }SHELFGUARD_HOME=$home"
    local -a extra=()
    if [[ -n ${CI:-} ]]; then
        extra=(--durations=10)
    fi
    local started=$SECONDS status=0
    env "${unset_args[@]}" SHELFGUARD_HOME="$home" "${assignments[@]}" \
        "$VENV/bin/python" -m pytest "${extra[@]}" "$@" || status=$?
    local elapsed=$((SECONDS - started))
    RESULTS+=("$(printf '%-12s %s (%ss)' "$label" "$(describe_pytest_status "$status")" "$elapsed")")
    return "$status"
}

cmd_test() {
    local run_sqlite=1 run_postgres=1
    local -a pytest_args=()
    local arg
    for arg in "$@"; do
        case $arg in
            --sqlite-only) run_postgres=0 ;;
            --postgres-only) run_sqlite=0 ;;
            *) pytest_args+=("$arg") ;;
        esac
    done
    ((run_sqlite || run_postgres)) || die "--sqlite-only and --postgres-only together leave nothing to run."

    ensure_system_packages "$run_postgres"
    ensure_venv test

    trap cleanup EXIT
    trap 'interrupted 130' INT
    trap 'interrupted 143' TERM
    trap 'interrupted 129' HUP

    local failed=0
    if ((run_sqlite)); then
        run_suite SQLite -- "${pytest_args[@]}" || failed=1
    fi
    if ((run_postgres)); then
        start_postgres
        if ! run_suite PostgreSQL "DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/shelfguard" \
            -- "${pytest_args[@]}"; then
            failed=1
            if grep -qE '(FATAL|PANIC):' "$PG_TMP/server.log" 2>/dev/null; then
                say "The PostgreSQL server's log has FATAL or PANIC lines (last 20):"
                grep -E '(FATAL|PANIC):' "$PG_TMP/server.log" | tail -n 20 || true
            fi
        fi
        stop_postgres || failed=1
    fi

    banner "Summary"
    local line
    for line in "${RESULTS[@]}"; do
        say "  $line"
    done
    if ((failed)); then
        say "Result: FAILED"
        return 1
    fi
    say "Result: all runs passed"
}

# --- Other commands -------------------------------------------------------------------

cmd_demo() {
    ensure_venv ""
    exec "$VENV/bin/shelfguard" demo "$@"
}

cmd_lint() {
    local ruff
    if [[ -x $VENV/bin/ruff ]]; then
        ruff=$VENV/bin/ruff
    elif command -v ruff >/dev/null; then
        ruff=$(command -v ruff)
    else
        die "ruff is not installed; install it with \`.venv/bin/pip install ruff\` and retry."
    fi
    if (($#)); then
        exec "$ruff" check "$@"
    fi
    exec "$ruff" check .
}

main() {
    local command=${1:-}
    if (($#)); then
        shift
    fi
    case $command in
        demo) cmd_demo "$@" ;;
        test) cmd_test "$@" ;;
        lint) cmd_lint "$@" ;;
        help | -h | --help) usage ;;
        "")
            usage >&2
            exit 2
            ;;
        *)
            warn "unknown command '$command'"
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
