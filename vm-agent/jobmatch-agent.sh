#!/bin/sh
# jobmatch-agent: applies the JobMatch operator's configuration on this VM.
#
# The operator writes instance metadata (jobmatch-config-hash, jobmatch-env, jobmatch-compose-*,
# jobmatch-health-*); this agent long-polls jobmatch-config-hash, and on a new hash writes .env,
# checks out the ref, runs `docker compose pull` and `up -d --remove-orphans`, waits for the
# health URL, rolls back on failure, and reports through guest attributes jobmatch/*.
# No SSH, no secret in flight: .env holds no secret, and nothing read from metadata is evaluated.
# See vm-agent/README.md. POSIX sh; `jobmatch-agent validate ref|file|directory VALUE` checks one value.
set -eu
LC_ALL=C
export LC_ALL

MD=${JOBMATCH_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}
STATE=${JOBMATCH_STATE_DIR:-/var/lib/jobmatch-agent}
APP_USER=${JOBMATCH_APP_USER:-}
HEALTH_INTERVAL=${JOBMATCH_HEALTH_INTERVAL:-2}
BACKOFF_MAX=${JOBMATCH_BACKOFF_MAX:-60}
POLL_TIMEOUT=${JOBMATCH_POLL_TIMEOUT:-300}
NS=jobmatch

log() { printf 'jobmatch-agent: %s\n' "$*"; }
warn() { printf 'jobmatch-agent: warning: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Validation: nothing read from metadata is trusted. The operator checks the same rules in the
# manifest (src/api); a value refused here never reaches git, docker or the file system.
# Each check prints nothing and returns 0, or sets REASON and returns 1.
# ---------------------------------------------------------------------------------------------
REASON=

refuse() {
  REASON=$1
  return 1
}

valid_ref() {
  v=$1
  [ -n "$v" ] || { refuse 'is empty'; return 1; }
  [ "${#v}" -le 255 ] || { refuse 'is longer than 255 characters'; return 1; }
  case $v in *[!A-Za-z0-9._/-]*) refuse 'has a character outside [A-Za-z0-9._/-]'; return 1 ;; esac
  case $v in [A-Za-z0-9]*) ;; *) refuse 'must start with a letter or a digit'; return 1 ;; esac
  case $v in *..*) refuse 'contains ".."'; return 1 ;; esac
  case $v in *//*) refuse 'contains "//"'; return 1 ;; esac
  case $v in *@\{*) refuse 'contains "@{"'; return 1 ;; esac
  case $v in */ | *. | *.lock) refuse 'ends with "/", "." or ".lock"'; return 1 ;; esac
  case $v in */.*) refuse 'has a component starting with "."'; return 1 ;; esac
  return 0
}

valid_file() {
  v=$1
  [ -n "$v" ] || { refuse 'is empty'; return 1; }
  [ "${#v}" -le 255 ] || { refuse 'is longer than 255 characters'; return 1; }
  case $v in *[!A-Za-z0-9._/-]*) refuse 'has a character outside [A-Za-z0-9._/-]'; return 1 ;; esac
  case $v in /*) refuse 'must be relative to the compose directory'; return 1 ;; esac
  case /$v/ in */../* | */./*) refuse 'has a "." or ".." component'; return 1 ;; esac
  case /$v/ in *//*) refuse 'has an empty component'; return 1 ;; esac
  return 0
}

# Directories the agent never writes a .env into nor runs a checkout from (the system's own).
SYSTEM_DIRS='/bin /boot /dev /etc /lib /lib32 /lib64 /libx32 /proc /root /run /sbin /sys /usr'

valid_directory() {
  v=$1
  [ -n "$v" ] || { refuse 'is empty'; return 1; }
  [ "${#v}" -le 1024 ] || { refuse 'is longer than 1024 characters'; return 1; }
  case $v in *[!A-Za-z0-9._/-]*) refuse 'has a character outside [A-Za-z0-9._/-]'; return 1 ;; esac
  case $v in /*) ;; *) refuse 'must be an absolute path'; return 1 ;; esac
  [ "$v" != / ] || { refuse 'must not be /'; return 1; }
  case $v/ in */../* | */./*) refuse 'has a "." or ".." component'; return 1 ;; esac
  # "//etc" or "/etc/" would name /etc without being equal to it: no empty component at all.
  case $v/ in *//*) refuse 'has an empty component ("//" or a trailing "/")'; return 1 ;; esac
  under_system_dir "$v" && return 1
  return 0
}

under_system_dir() {
  for sys in $SYSTEM_DIRS; do
    case $1 in "$sys" | "$sys"/*) refuse "is $sys or under it"; return 0 ;; esac
  done
  return 1
}

# sha256:<hex>, or sha256:<hex>#redeploy-<hex> when the operator forces the same config out again.
valid_hash() {
  v=$1
  [ -n "$v" ] || { refuse 'is empty'; return 1; }
  [ "${#v}" -le 200 ] || { refuse 'is longer than 200 characters'; return 1; }
  case $v in *[!A-Za-z0-9:._#-]*) refuse 'has a character outside [A-Za-z0-9:._#-]'; return 1 ;; esac
  return 0
}

valid_health_url() {
  v=$1
  [ "${#v}" -le 2048 ] || { refuse 'is longer than 2048 characters'; return 1; }
  case $v in http://?* | https://?*) ;; *) refuse 'must start with http:// or https://'; return 1 ;; esac
  # Printable ASCII without blanks (the operator's ^https?://\S+$, ASCII only): one line, no control character.
  case $v in *[![:graph:]]*) refuse 'has a blank, a control or a non-ASCII character'; return 1 ;; esac
  return 0
}

valid_seconds() {
  v=$1
  case $v in '' | *[!0-9]*) refuse 'must be a whole number of seconds'; return 1 ;; esac
  if [ "${#v}" -gt 5 ] || [ "$v" -lt 1 ] || [ "$v" -gt 3600 ]; then refuse 'must be between 1 and 3600'; return 1; fi
  return 0
}

# ---------------------------------------------------------------------------------------------
# Metadata server
# ---------------------------------------------------------------------------------------------

# md_get URL BODY HEADERS: prints the HTTP status (000 when there was no answer). Never fails.
md_get() {
  rm -f "$2"
  curl -sS -g -H 'Metadata-Flavor: Google' --connect-timeout 10 --max-time "$((POLL_TIMEOUT + 30))" \
    -D "$3" -o "$2" -w '%{http_code}' "$1" 2>"$WORK/curl.err" || true
}

# etag_of HEADERS: the ETag of an answer (hex), or nothing.
etag_of() {
  sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*\([0-9A-Za-z]*\)[[:space:]]*$/\1/p' "$1" | tail -n 1
}

# read_attribute KEY FILE: 0 with the value in FILE, 1 when the key is absent, 2 on an error.
read_attribute() {
  code=$(md_get "$MD/instance/attributes/$1" "$2" "$WORK/headers")
  case $code in
    200) [ -f "$2" ] || : >"$2"; return 0 ;; # an empty value: curl may create no file
    404) return 1 ;;
    *) warn "reading metadata key $1: HTTP $code $(head -c 200 "$WORK/curl.err" | tr -d '\n')"; return 2 ;;
  esac
}

# guest_put KEY VALUE: writes the guest attribute jobmatch/KEY (three tries).
guest_put() {
  for try in 1 2 3; do
    if printf '%s' "$2" | curl -fsS -g -X PUT -H 'Metadata-Flavor: Google' --max-time 10 \
      --data-binary @- "$MD/instance/guest-attributes/$NS/$1" >/dev/null 2>"$WORK/curl.err"; then
      return 0
    fi
    [ "$try" = 3 ] || sleep 1
  done
  warn "could not write guest attribute $NS/$1: $(head -c 200 "$WORK/curl.err" | tr -d '\n')"
  return 1
}

# guest_get KEY: prints the guest attribute jobmatch/KEY, or nothing.
guest_get() {
  curl -fsS -g -H 'Metadata-Flavor: Google' --max-time 10 "$MD/instance/guest-attributes/$NS/$1" 2>/dev/null || true
}

# status=applying comes first, so attempted-hash=H never sits next to the previous rollout's "failed".
report_applying() {
  guest_put status applying || true
  guest_put attempted-hash "$1" || true
  guest_put message "applying $1" || true
}

# The operator treats applied-hash == its hash as done: it is written last.
report_ok() {
  guest_put message "applied $1" || true
  guest_put status ok || true
  guest_put applied-hash "$1" || true
}

report_failed() {
  guest_put message "$2" || true
  guest_put status failed || true
}

# ---------------------------------------------------------------------------------------------
# State (in $STATE, mode 0700): applied-hash/-directory/-file after a success, failed-hash and
# failed-message after a failure, rollback/ while a rollout is in progress, lock/ during one.
# ---------------------------------------------------------------------------------------------

state_get() {
  if [ -f "$STATE/$1" ]; then cat "$STATE/$1"; fi
}

state_put() {
  printf '%s' "$2" >"$STATE/$1.tmp"
  mv -f "$STATE/$1.tmp" "$STATE/$1"
}

# One rollout at a time: a directory holding the owner's pid; a dead owner's lock is taken over.
lock_acquire() {
  while ! mkdir "$STATE/lock" 2>/dev/null; do
    holder=$(cat "$STATE/lock/pid" 2>/dev/null || true)
    if [ -n "$holder" ] && [ "$holder" != "$$" ] && kill -0 "$holder" 2>/dev/null; then
      log "another agent (pid $holder) is rolling out: waiting"
      sleep 1
    else
      log "taking over the lock of a stopped agent (pid ${holder:-unknown})"
      rm -rf "$STATE/lock"
    fi
  done
  printf '%s\n' "$$" >"$STATE/lock/pid"
}

lock_release() {
  rm -rf "$STATE/lock"
}

# ---------------------------------------------------------------------------------------------
# The app's checkout: git as the app user (their checkout, their deploy key), docker as root.
# ---------------------------------------------------------------------------------------------

is_root() { [ "$(id -u)" = 0 ]; }

git_dir() {
  if is_root && [ -n "$APP_USER" ]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u "$APP_USER" -- git -C "$DIR" "$@"
    else
      # shellcheck disable=SC2016 # "$@" is expanded by the user's sh, from these arguments
      su -s /bin/sh -c 'exec git "$@"' "$APP_USER" jobmatch-agent-git -C "$DIR" "$@"
    fi
  else
    git -C "$DIR" "$@"
  fi
}

# compose FILE ARGS...: docker compose on the app's project.
compose() {
  file=$1
  shift
  docker compose --project-directory "$DIR" -f "$DIR/$file" "$@"
}

# install_env SOURCE: SOURCE's bytes become $DIR/.env atomically, mode 0600, owned by the app user.
install_env() {
  tmp="$DIR/.env.jobmatch-agent.$$"
  TMP_ENV=$tmp
  (umask 077 && cat "$1" >"$tmp") || return 1
  chmod 600 "$tmp" || return 1
  if is_root && [ -n "$APP_USER" ]; then chown "$APP_USER" "$tmp" || return 1; fi
  mv -f "$tmp" "$DIR/.env" || return 1
  TMP_ENV=
}

# ---------------------------------------------------------------------------------------------
# Rollback point: the .env, commit and compose file of the last applied hash, taken before the
# first change of a rollout and kept until it ends, so a rollout interrupted by a kill and resumed
# after a restart still rolls back to the last applied state (not to its own half-written one).
# ---------------------------------------------------------------------------------------------

RB=
take_rollback_point() {
  RB=$STATE/rollback
  applied=$(state_get applied-hash)
  if [ -d "$RB" ] && [ "$(cat "$RB/base" 2>/dev/null || echo none)" = "$applied" ] &&
    [ "$(cat "$RB/directory" 2>/dev/null || true)" = "$DIR" ]; then
    log "resuming an interrupted rollout: keeping its rollback point (${applied:-no hash applied before})"
    return 0
  fi
  rm -rf "$RB" "$RB.tmp" && mkdir "$RB.tmp" || return 1
  printf '%s' "$applied" >"$RB.tmp/base" || return 1
  printf '%s' "$DIR" >"$RB.tmp/directory" || return 1
  if [ "$(state_get applied-directory)" = "$DIR" ] && [ -n "$(state_get applied-file)" ]; then
    state_get applied-file >"$RB.tmp/file" || return 1
  else
    printf '%s' "$FILE" >"$RB.tmp/file" || return 1
  fi
  if [ -f "$DIR/.env" ]; then cp "$DIR/.env" "$RB.tmp/env" || return 1; fi
  commit=
  if commit=$(git_dir rev-parse --verify --quiet 'HEAD^{commit}'); then
    printf '%s' "$commit" >"$RB.tmp/commit" || return 1
  fi
  mv "$RB.tmp" "$RB" || return 1
  log "rollback point: ${applied:-no hash applied before}, commit ${commit:-none}, $([ -f "$RB/env" ] && echo 'previous .env kept' || echo 'no previous .env')"
}

# What a rollback returns to, in words.
rollback_label() {
  base=$(cat "$RB/base")
  if [ -n "$base" ]; then
    printf '%s' "$base"
  elif [ -f "$RB/commit" ]; then
    printf 'commit %s (no hash applied before)' "$(cat "$RB/commit")"
  else
    printf 'nothing (no previous state)'
  fi
}

# restore_files: the previous .env and commit back in place. Sets RESTORE_ERROR on a failure.
restore_files() {
  RESTORE_ERROR=
  if [ -f "$RB/env" ]; then
    install_env "$RB/env" || RESTORE_ERROR="restoring .env failed"
  else
    rm -f "$DIR/.env" || RESTORE_ERROR="removing the new .env failed"
  fi
  if [ -f "$RB/commit" ]; then
    if ! git_dir checkout --quiet --detach "$(cat "$RB/commit")"; then
      RESTORE_ERROR="${RESTORE_ERROR:+$RESTORE_ERROR, }git checkout of $(cat "$RB/commit") failed"
    fi
  fi
  [ -z "$RESTORE_ERROR" ]
}

# fail_rollout HASH WHAT [up]: restores the rollback point (and brings it up with "up"), reports.
fail_rollout() {
  h=$1
  what=$2
  label=$(rollback_label)
  if [ -z "$(cat "$RB/base")" ] && [ ! -f "$RB/commit" ] && [ ! -f "$RB/env" ]; then
    rm -f "$DIR/.env"
    msg="$what; no previous state to roll back to"
  elif ! restore_files; then
    msg="$what; rollback to $label failed: $RESTORE_ERROR"
  elif [ "${3:-}" = up ]; then
    log "rolling back to $label: docker compose up"
    if compose "$(cat "$RB/file")" up -d --remove-orphans; then
      msg="$what; rolled back to $label"
    else
      msg="$what; rollback to $label failed: docker compose up failed"
    fi
  else
    msg="$what; nothing restarted, .env and commit restored (still running $label)"
  fi
  log "rollout of $h failed: $msg"
  rm -rf "$RB"
  report_failed "$h" "$msg"
  state_put failed-message "$msg"
  state_put failed-hash "$h"
}

# refuse_rollout HASH MESSAGE: nothing was changed; report and remember.
refuse_rollout() {
  log "rollout of $1 refused: $2"
  report_failed "$1" "$2"
  state_put failed-message "$2"
  state_put failed-hash "$1"
}

# wait_healthy URL SECONDS: 0 once URL answers 2xx, 1 when SECONDS have passed.
wait_healthy() {
  deadline=$(($(date +%s) + $2))
  while :; do
    code=$(curl -sS -g -o /dev/null -w '%{http_code}' --max-time 5 "$1" 2>/dev/null || true)
    case $code in 2??) return 0 ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep "$HEALTH_INTERVAL"
  done
}

# value KEY: a key read by rollout (empty when absent).
value() {
  if [ -f "$WORK/$1" ]; then cat "$WORK/$1"; fi
}

# ---------------------------------------------------------------------------------------------
# One rollout. Returns 0 when done (applied, failed or refused: reported either way), 1 on a
# transient error before any change (retried after a backoff), 3 when the hash moved meanwhile.
# ---------------------------------------------------------------------------------------------
rollout() {
  h=$1
  # The keys, read after the hash and checked against it again: one setMetadata wrote them all.
  for key in env compose-ref compose-file compose-directory health-url health-timeout; do
    rc=0
    read_attribute "jobmatch-$key" "$WORK/$key" || rc=$?
    case $rc in
      0) ;;
      1) rm -f "$WORK/$key" ;;
      *) return 1 ;;
    esac
  done
  rc=0
  read_attribute jobmatch-config-hash "$WORK/hash-again" || rc=$?
  [ "$rc" -le 1 ] || return 1
  if [ "$rc" = 1 ] || [ "$(cat "$WORK/hash-again")" != "$h" ]; then
    log "jobmatch-config-hash changed while its keys were read: starting over"
    return 3
  fi

  report_applying "$h"
  log "rollout of $h: validating its metadata"
  REF=$(value compose-ref)
  FILE=$(value compose-file)
  FILE=${FILE:-docker-compose.yml}
  DIR=$(value compose-directory)
  HEALTH_URL=$(value health-url)
  HEALTH_TIMEOUT=$(value health-timeout)
  HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-180}
  [ -f "$WORK/env" ] || { refuse_rollout "$h" "metadata key jobmatch-env is missing"; return 0; }
  [ -f "$WORK/compose-ref" ] || { refuse_rollout "$h" "metadata key jobmatch-compose-ref is missing"; return 0; }
  [ -f "$WORK/compose-directory" ] || { refuse_rollout "$h" "metadata key jobmatch-compose-directory is missing"; return 0; }
  valid_ref "$REF" || { refuse_rollout "$h" "refused jobmatch-compose-ref: it $REASON"; return 0; }
  valid_file "$FILE" || { refuse_rollout "$h" "refused jobmatch-compose-file: it $REASON"; return 0; }
  valid_directory "$DIR" || { refuse_rollout "$h" "refused jobmatch-compose-directory: it $REASON"; return 0; }
  if [ -n "$HEALTH_URL" ]; then
    valid_health_url "$HEALTH_URL" || { refuse_rollout "$h" "refused jobmatch-health-url: it $REASON"; return 0; }
  fi
  valid_seconds "$HEALTH_TIMEOUT" || { refuse_rollout "$h" "refused jobmatch-health-timeout: it $REASON"; return 0; }
  [ -d "$DIR" ] || { refuse_rollout "$h" "compose directory $DIR does not exist (clone the app there first)"; return 0; }
  # A symbolic link must not lead where the name itself may not.
  physical=$(cd "$DIR" && pwd -P) || { refuse_rollout "$h" "compose directory $DIR cannot be entered"; return 0; }
  if [ "$physical" = / ] || under_system_dir "$physical"; then
    refuse_rollout "$h" "refused jobmatch-compose-directory: it resolves to $physical, a system directory"
    return 0
  fi

  if ! take_rollback_point; then
    refuse_rollout "$h" "could not save the rollback point in $STATE"
    return 0
  fi
  log "git fetch in $DIR"
  if ! git_dir fetch --quiet --prune origin; then
    fail_rollout "$h" "git fetch in $DIR failed"
    return 0
  fi
  if ! sha=$(git_dir rev-parse --verify --quiet "origin/$REF^{commit}") &&
    ! sha=$(git_dir rev-parse --verify --quiet "$REF^{commit}"); then
    fail_rollout "$h" "ref $REF not found in $DIR (after git fetch)"
    return 0
  fi
  case $sha in *[!0-9a-f]* | '') fail_rollout "$h" "git rev-parse answered something that is not a commit id"; return 0 ;; esac
  log "writing $DIR/.env (mode 0600${APP_USER:+, owner $APP_USER})"
  if ! install_env "$WORK/env"; then
    fail_rollout "$h" "writing $DIR/.env failed"
    return 0
  fi
  rm -f "$WORK/env"
  log "git checkout $REF ($sha)"
  if ! git_dir checkout --quiet --detach "$sha"; then
    fail_rollout "$h" "git checkout of $REF ($sha) failed"
    return 0
  fi
  log "docker compose pull ($FILE)"
  if ! compose "$FILE" pull; then
    fail_rollout "$h" "docker compose pull failed"
    return 0
  fi
  log "docker compose up -d --remove-orphans ($FILE)"
  if ! compose "$FILE" up -d --remove-orphans; then
    fail_rollout "$h" "docker compose up failed" up
    return 0
  fi
  if [ -n "$HEALTH_URL" ]; then
    log "health check $HEALTH_URL (up to $HEALTH_TIMEOUT s)"
    if ! wait_healthy "$HEALTH_URL" "$HEALTH_TIMEOUT"; then
      fail_rollout "$h" "health check $HEALTH_URL not healthy after $HEALTH_TIMEOUT s" up
      return 0
    fi
    log "health check $HEALTH_URL: healthy"
  fi

  # Success: the local record first (so a restart never re-applies it), then the report.
  state_put applied-directory "$DIR"
  state_put applied-file "$FILE"
  state_put applied-hash "$h"
  rm -rf "$RB" "$STATE/failed-hash" "$STATE/failed-message"
  log "applied $h"
  report_ok "$h"
  return 0
}

# handle HASH: what to do about the hash the metadata server answered.
handle() {
  h=$1
  if ! valid_hash "$h"; then
    warn "jobmatch-config-hash refused: it $REASON"
    guest_put message "refused jobmatch-config-hash: it $REASON" || true
    guest_put status failed || true
    return 0
  fi
  if [ "$h" = "$(state_get applied-hash)" ]; then
    # Already applied: re-assert the report if it was lost (a kill between the two, a new VM state).
    if [ "$(guest_get applied-hash)" != "$h" ] || [ "$(guest_get status)" != ok ]; then
      log "$h is applied: reporting it again"
      report_ok "$h"
    else
      log "$h is applied: nothing to do"
    fi
    return 0
  fi
  if [ "$h" = "$(state_get failed-hash)" ]; then
    # Not retried until the hash changes (see README: Rollback); the report is re-asserted.
    log "$h failed before: waiting for a new hash"
    if [ "$(guest_get attempted-hash)" != "$h" ] || [ "$(guest_get status)" != failed ]; then
      guest_put attempted-hash "$h" || true
      report_failed "$h" "$(state_get failed-message)"
    fi
    return 0
  fi
  log "new configuration $h (applied: $(state_get applied-hash | grep . || echo none))"
  lock_acquire
  rc=0
  rollout "$h" || rc=$?
  lock_release
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
# Main loop: long-poll jobmatch-config-hash; back off on errors; never exit on a transient one.
# ---------------------------------------------------------------------------------------------

BACKOFF=1
backoff() {
  log "retrying in $BACKOFF s"
  sleep "$BACKOFF"
  BACKOFF=$((BACKOFF * 2))
  [ "$BACKOFF" -le "$BACKOFF_MAX" ] || BACKOFF=$BACKOFF_MAX
}

# Waits (long poll) until the attribute list changes, to see jobmatch-config-hash appear.
wait_for_hash_key() {
  code=$(md_get "$MD/instance/attributes/" "$WORK/keys" "$WORK/headers")
  [ "$code" = 200 ] || { warn "listing metadata keys: HTTP $code"; return 1; }
  grep -qx 'jobmatch-config-hash' "$WORK/keys" && return 0
  etag=$(etag_of "$WORK/headers")
  log "jobmatch-config-hash not set yet: waiting for it"
  code=$(md_get "$MD/instance/attributes/?wait_for_change=true${etag:+&last_etag=$etag}&timeout_sec=$POLL_TIMEOUT" "$WORK/keys" "$WORK/headers")
  [ "$code" = 200 ] || { warn "waiting for metadata keys: HTTP $code"; return 1; }
}

cleanup() {
  rm -rf "$WORK"
  if [ -n "${TMP_ENV:-}" ]; then rm -f "$TMP_ENV"; fi
  if [ "$(cat "$STATE/lock/pid" 2>/dev/null || true)" = "$$" ]; then lock_release; fi
}

main() {
  for setting in JOBMATCH_BACKOFF_MAX="$BACKOFF_MAX" JOBMATCH_POLL_TIMEOUT="$POLL_TIMEOUT"; do
    case ${setting#*=} in '' | *[!0-9]* | 0) echo "jobmatch-agent: ${setting%%=*} must be a positive whole number" >&2; exit 2 ;; esac
  done
  case $HEALTH_INTERVAL in '' | *[!0-9.]* | *.*.* | .*) echo "jobmatch-agent: JOBMATCH_HEALTH_INTERVAL must be a number of seconds" >&2; exit 2 ;; esac
  case $APP_USER in *[!a-z0-9_.-]* | -*) echo "jobmatch-agent: JOBMATCH_APP_USER is not a user name" >&2; exit 2 ;; esac
  case $STATE in /*) ;; *) echo "jobmatch-agent: JOBMATCH_STATE_DIR must be absolute" >&2; exit 2 ;; esac
  for tool in curl git docker; do
    command -v "$tool" >/dev/null 2>&1 || warn "$tool not found on PATH: rollouts will fail"
  done
  cd /
  umask 077
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  # work.<pid> of an agent that was killed: of no use any more.
  for old in "$STATE"/work.*; do
    pid=${old##*.}
    case $pid in *[!0-9]* | '') continue ;; esac
    if [ "$pid" = "$$" ] || ! kill -0 "$pid" 2>/dev/null; then rm -rf "$old"; fi
  done
  WORK=$STATE/work.$$
  mkdir "$WORK"
  TMP_ENV=
  trap cleanup EXIT
  trap 'log "stopping"; exit 0' TERM INT HUP
  log "started (metadata $MD, state $STATE, applied: $(state_get applied-hash | grep . || echo none))"

  synced=false # true once the answer last read has been handled: then long-poll for the next one
  etag=
  while :; do
    if $synced; then
      url="$MD/instance/attributes/jobmatch-config-hash?wait_for_change=true${etag:+&last_etag=$etag}&timeout_sec=$POLL_TIMEOUT"
    else
      url="$MD/instance/attributes/jobmatch-config-hash"
    fi
    code=$(md_get "$url" "$WORK/hash" "$WORK/headers")
    case $code in
      200)
        new_etag=$(etag_of "$WORK/headers")
        hash=$(cat "$WORK/hash" 2>/dev/null || true)
        BACKOFF=1
        # The same answer again (the long poll's timeout): nothing changed.
        if [ -n "$etag" ] && [ "$new_etag" = "$etag" ]; then continue; fi
        rc=0
        handle "$hash" || rc=$?
        case $rc in
          0 | 3) synced=true etag=$new_etag ;; # 3: the next long poll answers at once with the newer hash
          *) synced=false; backoff ;;
        esac
        ;;
      404)
        synced=false
        BACKOFF=1
        wait_for_hash_key || backoff
        ;;
      *)
        warn "reading jobmatch-config-hash: HTTP $code $(head -c 200 "$WORK/curl.err" | tr -d '\n')"
        synced=false
        backoff
        ;;
    esac
  done
}

if [ "${1:-}" = validate ]; then
  # jobmatch-agent validate ref|file|directory VALUE: exit 0 when the agent accepts VALUE.
  [ "$#" = 3 ] || { echo "usage: jobmatch-agent validate ref|file|directory VALUE" >&2; exit 2; }
  case $2 in
    ref) valid_ref "$3" ;;
    file) valid_file "$3" ;;
    directory) valid_directory "$3" ;;
    *) echo "usage: jobmatch-agent validate ref|file|directory VALUE" >&2; exit 2 ;;
  esac && exit 0
  printf '%s %s\n' "$2" "$REASON" >&2
  exit 1
fi
[ "$#" = 0 ] || { echo "usage: jobmatch-agent [validate ref|file|directory VALUE]" >&2; exit 2; }
main
