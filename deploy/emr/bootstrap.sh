#!/usr/bin/env bash
# EMR bootstrap action (or step) that prepares the master node for the
# nightly forecasting job on YARN:
#
#   1. creates a virtualenv from the system Python,
#   2. installs the forecasting package into it (never editable),
#   3. packs the virtualenv for the YARN containers (forecasting pack-env;
#      the archive is kept when the installed packages did not change),
#   4. writes a starting config file with placeholder yarn: values.
#
# On core and task nodes it only checks that the interpreter exists, and
# exits 0.
#
# Why the system Python: a packed virtualenv does not contain an interpreter.
# Its bin/python links to the interpreter the virtualenv was made from, which
# must exist at the same path, in the same version, on EVERY node.  The AMI's
# /usr/bin/python3 does.  If it is older than 3.11 (Amazon Linux 2), install
# a newer one on all nodes with an earlier bootstrap action (Amazon Linux
# 2023: sudo dnf install -y python3.11) and set FORECASTING_PYTHON to it.
#
# Usage:
#   bootstrap.sh [PACKAGE]
#
# PACKAGE (or FORECASTING_PACKAGE; the argument wins) is what pip installs: a
# requirement (forecasting==0.1.0), a wheel or project folder on the node, or
# the s3:// URL of a wheel (copied with 'aws s3 cp' first).  Default:
# forecasting.
#
# Environment variables, all optional:
#   FORECASTING_PACKAGE      see above
#   FORECASTING_PYTHON       base interpreter (default /usr/bin/python3);
#                            Python >= 3.11, present on every node
#   FORECASTING_HOME         folder for everything below (default /opt/forecasting;
#                            created with sudo if needed, owned by the user
#                            running this script)
#   FORECASTING_VENV         virtualenv (default $FORECASTING_HOME/venv)
#   FORECASTING_ARCHIVE      packed environment (default
#                            $FORECASTING_HOME/environment.tar.gz)
#   FORECASTING_CONFIG       config file written (default $FORECASTING_HOME/nightly.yaml)
#   FORECASTING_OVERWRITE_CONFIG=1
#                            replace an existing config file (default: keep it,
#                            so that re-running the step keeps your edits)
#   FORECASTING_YARN_QUEUE         yarn.queue in the config (default default)
#   FORECASTING_YARN_WORKERS       yarn.workers (default 8)
#   FORECASTING_YARN_WORKER_MEMORY yarn.worker_memory (default "6 GiB")
#   FORECASTING_YARN_WORKER_VCORES yarn.worker_vcores (default 2)
#   FORECASTING_HORIZON            forecasting.horizon (default 28D)
#   EMR_INSTANCE_INFO        EMR's instance description, read for "isMaster"
#                            (default /mnt/var/lib/info/instance.json)
#   DRY_RUN=1                print the commands and the config file instead of
#                            running and writing them (the checks still run)
#   TMPDIR                   venv-pack builds the archive there before moving
#                            it beside FORECASTING_ARCHIVE: needs room for it
#   PIP_INDEX_URL, PIP_*     passed on to pip as usual (private index, proxy)
#
# Exit status: 0 on success and on core/task nodes, 1 on any failure (EMR
# then fails the cluster's start-up), 2 on bad usage.

set -euo pipefail

# The package's python_requires (setup.cfg).
readonly MIN_PYTHON_MAJOR=3 MIN_PYTHON_MINOR=11

EMR_INSTANCE_INFO="${EMR_INSTANCE_INFO:-/mnt/var/lib/info/instance.json}"
FORECASTING_PYTHON="${FORECASTING_PYTHON:-/usr/bin/python3}"
FORECASTING_HOME="${FORECASTING_HOME:-/opt/forecasting}"
FORECASTING_VENV="${FORECASTING_VENV:-$FORECASTING_HOME/venv}"
FORECASTING_ARCHIVE="${FORECASTING_ARCHIVE:-$FORECASTING_HOME/environment.tar.gz}"
FORECASTING_CONFIG="${FORECASTING_CONFIG:-$FORECASTING_HOME/nightly.yaml}"
FORECASTING_OVERWRITE_CONFIG="${FORECASTING_OVERWRITE_CONFIG:-0}"
FORECASTING_YARN_QUEUE="${FORECASTING_YARN_QUEUE:-default}"
FORECASTING_YARN_WORKERS="${FORECASTING_YARN_WORKERS:-8}"
FORECASTING_YARN_WORKER_MEMORY="${FORECASTING_YARN_WORKER_MEMORY:-6 GiB}"
FORECASTING_YARN_WORKER_VCORES="${FORECASTING_YARN_WORKER_VCORES:-2}"
FORECASTING_HORIZON="${FORECASTING_HORIZON:-28D}"
DRY_RUN="${DRY_RUN:-0}"

log() {
    printf '%s forecasting-bootstrap: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

usage_error() {
    log "usage error: $*"
    exit 2
}

# Run a command, or print it (shell-quoted, after '+ ') under DRY_RUN=1.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        log "running: $*"
        "$@"
    fi
}

is_master() {
    [ -r "$EMR_INSTANCE_INFO" ] || die "cannot read $EMR_INSTANCE_INFO: not an EMR node? (set EMR_INSTANCE_INFO)"
    grep -Eq '"isMaster"[[:space:]]*:[[:space:]]*true' "$EMR_INSTANCE_INFO"
}

check_python() {
    [ -x "$FORECASTING_PYTHON" ] ||
        die "FORECASTING_PYTHON=$FORECASTING_PYTHON does not exist on this node; the packed environment links to it, so it must exist at this path on every node"
    "$FORECASTING_PYTHON" -c "import sys; sys.exit(sys.version_info < ($MIN_PYTHON_MAJOR, $MIN_PYTHON_MINOR))" ||
        die "$FORECASTING_PYTHON is $("$FORECASTING_PYTHON" -V 2>&1); forecasting needs Python >= $MIN_PYTHON_MAJOR.$MIN_PYTHON_MINOR: install one on every node and set FORECASTING_PYTHON"
}

# Create a folder, with sudo where the user running this cannot (bootstrap
# actions run as 'hadoop', and /opt belongs to root).
ensure_dir() {
    local dir="$1" parent
    if [ -d "$dir" ] && [ -w "$dir" ]; then
        return 0
    fi
    parent="$dir"
    while [ ! -e "$parent" ]; do
        parent="$(dirname "$parent")"
    done
    if [ ! -d "$dir" ] && [ -w "$parent" ]; then
        run mkdir -p "$dir"
    else
        run sudo mkdir -p "$dir"
        run sudo chown "$(id -un):$(id -gn)" "$dir"
    fi
}

# Quote a value as a YAML single-quoted scalar.
yaml_quote() {
    local squote="'"
    printf "'%s'" "${1//$squote/$squote$squote}"
}

config_text() {
    cat <<EOF
# Written by deploy/emr/bootstrap.sh on $(date -u +%Y-%m-%d).  The yarn: values
# are placeholders: size them to the cluster (workers x worker_memory must fit
# in the queue) before the first nightly run.
yarn:
  name: forecasting-nightly
  queue: $(yaml_quote "$FORECASTING_YARN_QUEUE")
  workers: $FORECASTING_YARN_WORKERS
  worker_memory: $(yaml_quote "$FORECASTING_YARN_WORKER_MEMORY")
  worker_vcores: $FORECASTING_YARN_WORKER_VCORES
  environment: $(yaml_quote "$FORECASTING_ARCHIVE")

forecasting:
  horizon: $(yaml_quote "$FORECASTING_HORIZON")
EOF
}

config_tmp=""
cleanup() {
    if [ -n "$config_tmp" ]; then
        rm -f -- "$config_tmp"
    fi
}
trap cleanup EXIT

write_config() {
    if [ -e "$FORECASTING_CONFIG" ] && [ "$FORECASTING_OVERWRITE_CONFIG" != 1 ]; then
        log "keeping the existing $FORECASTING_CONFIG (FORECASTING_OVERWRITE_CONFIG=1 replaces it)"
        return 0
    fi
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ write %q:\n' "$FORECASTING_CONFIG"
        config_text | sed 's/^/    /'
        return 0
    fi
    config_tmp="$(mktemp "$FORECASTING_CONFIG.XXXXXX")"
    config_text >"$config_tmp"
    chmod 644 "$config_tmp"
    mv -f -- "$config_tmp" "$FORECASTING_CONFIG"
    config_tmp=""
    log "wrote $FORECASTING_CONFIG"
}

check_settings() {
    [[ "$FORECASTING_YARN_WORKERS" =~ ^[1-9][0-9]*$ ]] ||
        usage_error "FORECASTING_YARN_WORKERS must be a whole number >= 1, got '$FORECASTING_YARN_WORKERS'"
    [[ "$FORECASTING_YARN_WORKER_VCORES" =~ ^[1-9][0-9]*$ ]] ||
        usage_error "FORECASTING_YARN_WORKER_VCORES must be a whole number >= 1, got '$FORECASTING_YARN_WORKER_VCORES'"
    [[ "$FORECASTING_YARN_WORKER_MEMORY" =~ ^[0-9]+(\.[0-9]+)?\ ?(MiB|GiB|TiB)$ ]] ||
        usage_error "FORECASTING_YARN_WORKER_MEMORY must be in MiB, GiB or TiB (e.g. '6 GiB'), got '$FORECASTING_YARN_WORKER_MEMORY'"
    [[ "$FORECASTING_YARN_QUEUE" =~ ^[A-Za-z0-9_.:-]+$ ]] ||
        usage_error "FORECASTING_YARN_QUEUE is not a YARN queue name: '$FORECASTING_YARN_QUEUE'"
    case "$FORECASTING_PACKAGE" in
        "") usage_error "FORECASTING_PACKAGE is empty" ;;
        -e* | --editable*)
            usage_error "an editable install cannot be packed; give the package without -e (e.g. a wheel, a project folder or forecasting==VERSION)" ;;
    esac
    case "$FORECASTING_ARCHIVE" in
        *.tar.gz) ;;
        *) usage_error "FORECASTING_ARCHIVE must end in .tar.gz, got '$FORECASTING_ARCHIVE'" ;;
    esac
    case "$FORECASTING_ARCHIVE" in
        "$FORECASTING_VENV"/*)
            usage_error "FORECASTING_ARCHIVE ($FORECASTING_ARCHIVE) must not be inside FORECASTING_VENV" ;;
    esac
}

main() {
    if [ "$#" -gt 1 ]; then
        usage_error "at most one argument (the package to install), got $#"
    fi
    FORECASTING_PACKAGE="${1:-${FORECASTING_PACKAGE:-forecasting}}"

    if ! is_master; then
        check_python
        log "not the master node: nothing to do"
        exit 0
    fi
    check_settings
    check_python

    local dir done_dirs="" package="$FORECASTING_PACKAGE"
    for dir in "$FORECASTING_HOME" "$(dirname "$FORECASTING_VENV")" "$(dirname "$FORECASTING_ARCHIVE")" "$(dirname "$FORECASTING_CONFIG")"; do
        case "$done_dirs" in
            *"<$dir>"*) ;;
            *)
                ensure_dir "$dir"
                done_dirs="$done_dirs<$dir>"
                ;;
        esac
    done

    case "$package" in
        s3://*)
            ensure_dir "$FORECASTING_HOME/dist"
            run aws s3 cp "$package" "$FORECASTING_HOME/dist/"
            package="$FORECASTING_HOME/dist/${package##*/}"
            ;;
    esac

    # Re-running keeps an existing virtualenv (and so an unchanged archive).
    run "$FORECASTING_PYTHON" -m venv "$FORECASTING_VENV"
    run "$FORECASTING_VENV/bin/python" -m pip install --no-input --disable-pip-version-check --upgrade "$package"
    run "$FORECASTING_VENV/bin/forecasting" pack-env --out "$FORECASTING_ARCHIVE"
    write_config
    if [ "$DRY_RUN" = 1 ]; then
        log "dry run: nothing was changed"
    else
        log "done: environment $FORECASTING_ARCHIVE, config $FORECASTING_CONFIG"
    fi
}

main "$@"
