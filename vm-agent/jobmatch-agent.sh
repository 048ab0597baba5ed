#!/bin/sh
# jobmatch-agent: applies the JobMatch operator's configuration on this VM.
#
# The operator writes instance metadata (jobmatch-config-hash, -serial, -signature, -key-version, jobmatch-env,
# jobmatch-compose-*, jobmatch-health-*); this agent long-polls jobmatch-config-hash, and on a new hash reads every
# key, checks that the hash covers exactly what it read, that the operator signed it with the environment's deploy
# key (read from Secret Manager with the VM's service account) and that it is no replay, validates every value,
# then writes .env, checks out the ref, runs `docker compose pull` and `up -d --remove-orphans` on the commit's own
# compose file, waits for the health URL, rolls back on failure, and reports through guest attributes jobmatch/*.
# No SSH; nothing read from metadata is evaluated; root writes nothing in a directory the app user controls.
# See vm-agent/README.md. POSIX sh. `jobmatch-agent validate ref|file|directory VALUE` checks one value;
# `jobmatch-agent sign ROLLOUT_ID SERIAL` (the deploy key's base64 on stdin) prints the signature it expects.
set -eu
LC_ALL=C
export LC_ALL

SETTINGS=/etc/default/jobmatch-agent
MD=${JOBMATCH_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}
STATE=${JOBMATCH_STATE_DIR:-/var/lib/jobmatch-agent}
APP_USER=${JOBMATCH_APP_USER:-}
ENVIRONMENT=${JOBMATCH_ENVIRONMENT:-}
SECRET_MANAGER=${JOBMATCH_SECRET_MANAGER_URL:-https://secretmanager.googleapis.com}
COMPOSE_DIRECTORIES=${JOBMATCH_COMPOSE_DIRECTORIES:-/opt/jobmatch}
HEALTH_INTERVAL=${JOBMATCH_HEALTH_INTERVAL:-2}
BACKOFF_MAX=${JOBMATCH_BACKOFF_MAX:-60}
POLL_TIMEOUT=${JOBMATCH_POLL_TIMEOUT:-300}
NS=jobmatch
NL='
'
# The keys jobmatch-config-hash covers, in the order of its document (src/api/config-hash.ts; README: The hash).
HASHED_KEYS='compose-ref compose-file compose-directory health-url health-timeout env'
# Every key a rollout reads (jobmatch-<key>).
ROLLOUT_KEYS="$HASHED_KEYS config-serial config-signature config-key-version"

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

# jobmatch-config-serial: 1 to 18 digits, no leading zero (it fits a 64-bit test -lt).
valid_serial() {
  case $1 in '' | 0* | *[!0-9]*) return 1 ;; esac
  [ "${#1}" -le 18 ]
}

# jobmatch-config-signature: hmac-sha256:<64 lowercase hex>.
valid_signature() {
  case $1 in hmac-sha256:*) ;; *) return 1 ;; esac
  v=${1#hmac-sha256:}
  case $v in *[!0-9a-f]*) return 1 ;; esac
  [ "${#v}" = 64 ]
}

# An environment name, as the operator's spec.environment: [a-z][a-z0-9-], at most 20 characters.
valid_environment() {
  case $1 in [a-z]*) ;; *) return 1 ;; esac
  case $1 in *[!a-z0-9-]*) return 1 ;; esac
  [ "${#1}" -le 20 ]
}

# A GCP project id: [a-z][a-z0-9-]{4,28}[a-z0-9].
valid_project() {
  case $1 in [a-z]*[a-z0-9]) ;; *) return 1 ;; esac
  case $1 in *[!a-z0-9-]*) return 1 ;; esac
  [ "${#1}" -ge 6 ] && [ "${#1}" -le 30 ]
}

# ---------------------------------------------------------------------------------------------
# Metadata server
# ---------------------------------------------------------------------------------------------

# md_get URL BODY HEADERS: prints the HTTP status of a complete answer, or 000 when curl failed: no answer, or an
# incomplete one (a body shorter than its Content-Length, a connection closed early), in which case BODY is
# removed and curl's error is in $WORK/curl.err. Never fails.
md_get() {
  rm -f "$2"
  if code=$(curl -sS -g -H 'Metadata-Flavor: Google' --connect-timeout 10 --max-time "$((POLL_TIMEOUT + 30))" \
    -D "$3" -o "$2" -w '%{http_code}' "$1" 2>"$WORK/curl.err"); then
    printf '%s' "$code"
  else
    rm -f "$2"
    printf '000'
  fi
}

# answer_of CODE: an md_get status in words, for a warning.
answer_of() {
  if [ "$1" = 000 ]; then
    printf 'no complete answer: %s' "$(head -c 200 "$WORK/curl.err" | tr -d '\n')"
  else
    printf 'HTTP %s %s' "$1" "$(head -c 200 "$WORK/curl.err" | tr -d '\n')"
  fi
}

# etag_of HEADERS: the ETag of an answer (hex), or nothing.
etag_of() {
  sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*\([0-9A-Za-z]*\)[[:space:]]*$/\1/p' "$1" | tail -n 1
}

# read_attribute KEY FILE: 0 with the whole value in FILE, 1 when the key is absent, 2 on an error (incomplete
# answers included: retried, nothing installed).
read_attribute() {
  code=$(md_get "$MD/instance/attributes/$1" "$2" "$WORK/headers")
  case $code in
    200) [ -f "$2" ] || : >"$2"; return 0 ;; # an empty value: curl may create no file
    404) return 1 ;;
    *) warn "reading metadata key $1: $(answer_of "$code")"; return 2 ;;
  esac
}

# guest_put KEY VALUE [TRIES]: writes the guest attribute jobmatch/KEY (three tries by default).
guest_put() {
  try=1
  while :; do
    if printf '%s' "$2" | curl -fsS -g -X PUT -H 'Metadata-Flavor: Google' --max-time 10 \
      --data-binary @- "$MD/instance/guest-attributes/$NS/$1" >/dev/null 2>"$WORK/curl.err"; then
      return 0
    fi
    [ "$try" -lt "${3:-3}" ] || break
    try=$((try + 1))
    sleep 1
  done
  warn "could not write guest attribute $NS/$1: $(head -c 200 "$WORK/curl.err" | tr -d '\n')"
  return 1
}

# guest_get KEY: prints the guest attribute jobmatch/KEY, or nothing (also when the answer was incomplete).
guest_get() {
  if v=$(curl -fsS -g -H 'Metadata-Flavor: Google' --max-time 10 "$MD/instance/guest-attributes/$NS/$1" 2>/dev/null); then
    printf '%s' "$v"
  fi
}

# report_environment: jobmatch/environment, whose VM this is, for the operator (a JobMatchEnvironment of another
# environment naming this VM then writes nothing to it). Until it is written, tried at start and on every hash
# handled, since guest attributes are off until the operator's first push turns them on.
ENV_REPORTED=
report_environment() {
  [ -z "$ENV_REPORTED" ] && [ -n "$ENVIRONMENT" ] || return 0
  valid_environment "$ENVIRONMENT" || return 0
  if guest_put environment "$ENVIRONMENT" 1; then ENV_REPORTED=1; fi
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
# State (in $STATE, mode 0700): applied-hash/-serial/-directory/-file/-compose.yml after a success,
# failed-hash and failed-message after a failure, rollback/ while a rollout is in progress, lock/
# during one, work.<pid>/ for what a rollout read (root only; removed when the agent stops).
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

# value KEY: a key read by rollout (empty when absent).
value() {
  if [ -f "$WORK/$1" ]; then cat "$WORK/$1"; fi
}

# ---------------------------------------------------------------------------------------------
# Integrity: jobmatch-config-hash is the sha256 of a length-prefixed document of every value the
# agent acts on (README: The hash). Recomputed from the bytes read, never through $(...), which
# would drop trailing newlines.
# ---------------------------------------------------------------------------------------------

# sha256_hex: the sha256 of standard input, 64 lowercase hex digits.
sha256_hex() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum; else openssl dgst -sha256 -r; fi | cut -c1-64
}

# config_document: the hashed document, from the values in $WORK (an absent key is an empty value).
config_document() {
  printf 'jobmatch-config v2\n'
  for key in $HASHED_KEYS; do
    if [ -f "$WORK/$key" ]; then
      printf 'jobmatch-%s %s\n' "$key" "$(($(wc -c <"$WORK/$key")))"
      cat "$WORK/$key"
    else
      printf 'jobmatch-%s 0\n' "$key"
    fi
    printf '\n'
  done
}

# hashed_keys_list: "jobmatch-compose-ref, ..., jobmatch-env", for messages.
hashed_keys_list() {
  list=
  for key in $HASHED_KEYS; do list="${list:+$list, }jobmatch-$key"; done
  printf '%s' "$list"
}

# ---------------------------------------------------------------------------------------------
# Authenticity: jobmatch-config-signature is hmac-sha256:<hex> of
#   "jobmatch-config-signature v1\n<jobmatch-config-hash as written>\n<jobmatch-config-serial>\n"
# keyed with the deploy key, the latest version of the secret jobmatch-<JOBMATCH_ENVIRONMENT>-deploy-key
# of this VM's project. The token and the key live in shell variables and pipes only: never in a
# command's arguments (other users read /proc/*/cmdline), a file, a log or a guest attribute.
# ---------------------------------------------------------------------------------------------

# signed_message ROLLOUT_ID SERIAL: the bytes the signature covers.
signed_message() {
  printf 'jobmatch-config-signature v1\n%s\n%s\n' "$1" "$2"
}

# hex_bytes HEX: its bytes, in decimal.
hex_bytes() {
  hx=$1
  out=
  while [ -n "$hx" ]; do
    rest=${hx#??}
    out="$out $((0x${hx%"$rest"}))"
    hx=$rest
  done
  printf '%s' "$out"
}

# emit_bytes BYTES XOR [pad]: the bytes (decimal), each xored with XOR, then with "pad" as many XOR
# bytes as make 64, on standard output. Only the shell's builtin printf sees them (main checks it
# is one), through octal escapes: NUL and bytes >= 0x80 included.
emit_bytes() {
  fmt=
  n=0
  for b in $1; do
    x=$((b ^ $2))
    fmt="$fmt\\$((x / 64))$((x / 8 % 8))$((x % 8))"
    n=$((n + 1))
  done
  if [ "${3:-}" = pad ]; then
    x=$2
    while [ "$n" -lt 64 ]; do
      fmt="$fmt\\$((x / 64))$((x / 8 % 8))$((x % 8))"
      n=$((n + 1))
    done
  fi
  # shellcheck disable=SC2059 # the format is made of octal escapes only, by design
  printf "$fmt"
}

# hmac_sha256_hex: HMAC-SHA256 (RFC 2104) of standard input with the key in KEY_BYTES, in hex:
# H((K xor opad) || H((K xor ipad) || message)), K zero-padded to 64 bytes, or first hashed when longer.
hmac_sha256_hex() {
  k=$KEY_BYTES
  n=0
  for b in $k; do n=$((n + 1)); done
  if [ "$n" -gt 64 ]; then k=$(hex_bytes "$(emit_bytes "$k" 0 | sha256_hex)"); fi
  inner=$({ emit_bytes "$k" 54 pad; cat; } | sha256_hex)
  { emit_bytes "$k" 92 pad; emit_bytes "$(hex_bytes "$inner")" 0; } | sha256_hex
  k=
}

# read_deploy_key: sets KEY_BYTES (the deploy key's bytes, in decimal) and KEY_VERSION from Secret
# Manager. 0: read; 1: a transient error (retried); 2: it cannot be read (REASON names the secret).
read_deploy_key() {
  KEY_BYTES=
  KEY_VERSION=
  secret=jobmatch-$ENVIRONMENT-deploy-key
  # Where the key is comes from this VM and its settings, never from instance attributes: a metadata
  # writer would point the agent at a key of their own.
  code=$(md_get "$MD/project/project-id" "$WORK/project" "$WORK/headers")
  [ "$code" = 200 ] || { warn "reading project/project-id: $(answer_of "$code")"; return 1; }
  project=$(cat "$WORK/project")
  valid_project "$project" || { REASON="the metadata server's project/project-id is not a project id"; return 2; }

  if ! answer=$(curl -sS -g -H 'Metadata-Flavor: Google' --connect-timeout 10 --max-time 30 -w "$NL%{http_code}" \
    "$MD/instance/service-accounts/default/token" 2>"$WORK/curl.err"); then
    warn "reading the VM's service account token: $(answer_of 000)"
    return 1
  fi
  code=${answer##*"$NL"}
  case $code in
    200) ;;
    404) answer=; REASON="the VM has no service account (the metadata server has no token): it needs one that can read secret $secret"; return 2 ;;
    *) answer=; warn "reading the VM's service account token: HTTP $code"; return 1 ;;
  esac
  token=$(printf '%s' "${answer%"$NL"*}" | tr -d ' \t\r\n' | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  answer=
  case $token in '' | *[!A-Za-z0-9._~+/=-]*) token=; warn "the metadata server's answer holds no bearer token"; return 1 ;; esac

  # curl reads the header from its standard input (-K -): the token is in no command line.
  if ! answer=$(printf 'header = "Authorization: Bearer %s"\n' "$token" | curl -sS -g -K - --connect-timeout 10 --max-time 30 \
    -w "$NL%{http_code}" "$SECRET_MANAGER/v1/projects/$project/secrets/$secret/versions/latest:access" 2>"$WORK/curl.err"); then
    token=
    warn "reading secret $secret: $(answer_of 000)"
    return 1
  fi
  token=
  code=${answer##*"$NL"}
  case $code in
    200) ;;
    403 | 404)
      answer=
      REASON="Secret Manager answered HTTP $code for secret $secret of project $project: the VM's service account needs roles/secretmanager.secretAccessor on it"
      return 2
      ;;
    401 | 408 | 429 | 5??) answer=; warn "reading secret $secret: HTTP $code"; return 1 ;;
    *) answer=; REASON="Secret Manager answered HTTP $code for secret $secret of project $project"; return 2 ;;
  esac
  compact=$(printf '%s' "${answer%"$NL"*}" | tr -d ' \t\r\n')
  answer=
  KEY_VERSION=$(printf '%s' "$compact" | sed -n 's#.*"name":"projects/[^"/]*/secrets/[^"/]*/versions/\([0-9][0-9]*\)".*#\1#p')
  data=$(printf '%s' "$compact" | sed -n 's/.*"data":"\([^"]*\)".*/\1/p')
  compact=
  case $data in
    '' | *[!A-Za-z0-9+/=]*) data=; REASON="the latest version of secret $secret holds no deploy key (an empty or malformed payload)"; return 2 ;;
  esac
  KEY_BYTES=$(printf '%s' "$data" | base64 -d 2>/dev/null | od -An -v -tu1)
  data=
  case $KEY_BYTES in *[0-9]*) ;; *) KEY_BYTES=; REASON="the latest version of secret $secret holds no deploy key (its payload is not base64)"; return 2 ;; esac
  return 0
}

# verify_signature ROLLOUT_ID: 0 when jobmatch-config-signature is the HMAC of the rollout id and
# jobmatch-config-serial (set in SERIAL) under the deploy key; 1 on a transient error; 2 when it
# does not match or cannot be checked (REASON says why, naming keys and the secret, never values).
verify_signature() {
  SERIAL=
  why='the signature could not be checked'
  [ -f "$WORK/config-signature" ] || { REASON="$why: metadata key jobmatch-config-signature is missing (the configuration is not signed)"; return 2; }
  [ -f "$WORK/config-serial" ] || { REASON="$why: metadata key jobmatch-config-serial is missing"; return 2; }
  SERIAL=$(value config-serial)
  valid_serial "$SERIAL" || { SERIAL=; REASON="$why: metadata key jobmatch-config-serial is not a serial (1 to 18 digits, no leading 0)"; return 2; }
  written=$(value config-signature)
  valid_signature "$written" || { REASON="$why: metadata key jobmatch-config-signature is not hmac-sha256:<64 hex>"; return 2; }
  if [ -z "$ENVIRONMENT" ]; then
    REASON="$why: JOBMATCH_ENVIRONMENT is not set in $SETTINGS (the environment whose deploy key, secret jobmatch-<environment>-deploy-key, signs this VM's configuration): set it, then restart jobmatch-agent"
    return 2
  fi
  valid_environment "$ENVIRONMENT" || {
    REASON="$why: JOBMATCH_ENVIRONMENT in $SETTINGS is not an environment name ([a-z][a-z0-9-], at most 20 characters)"
    return 2
  }
  rc=0
  read_deploy_key || rc=$?
  case $rc in
    0) ;;
    2) REASON="$why: $REASON"; return 2 ;;
    *) return 1 ;;
  esac
  expected=hmac-sha256:$(signed_message "$1" "$SERIAL" | hmac_sha256_hex)
  KEY_BYTES=
  [ "$expected" != "$written" ] || return 0
  said=$(value config-key-version)
  case $said in '' | *[!0-9]*) said='no version' ;; esac
  REASON="the signature did not match: jobmatch-config-signature is not the HMAC of jobmatch-config-hash and jobmatch-config-serial with the deploy key $secret (version ${KEY_VERSION:-unknown}); jobmatch-config-key-version says $said"
  return 2
}

# check_serial ROLLOUT_ID: 0 unless SERIAL is below the serial applied last, or equal to it for
# another hash (REASON says so).
check_serial() {
  last=$(state_get applied-serial)
  valid_serial "$last" || return 0
  if [ "$SERIAL" -lt "$last" ]; then
    REASON='jobmatch-config-serial is lower than the serial of the configuration applied last: a replay of an older configuration'
    return 1
  fi
  if [ "$SERIAL" = "$last" ] && [ "$1" != "$(state_get applied-hash)" ]; then
    REASON='jobmatch-config-serial is the serial of the configuration applied last, with another jobmatch-config-hash: a replay of an older configuration'
    return 1
  fi
  return 0
}

# ---------------------------------------------------------------------------------------------
# The app's checkout: the owner of the checkout (JOBMATCH_APP_USER, through runuser, when the agent
# is root) runs git and writes .env there; root writes nothing in a directory another user controls,
# and follows no link in it. docker runs as root, on copies of the compose file and .env that only
# root can write.
# ---------------------------------------------------------------------------------------------

is_root() { [ "$(id -u)" = 0 ]; }

# as_owner CMD ARGS...: CMD as the owner of the checkout (JOBMATCH_APP_USER when root), else as is.
as_owner() {
  if is_root && [ -n "$APP_USER" ]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u "$APP_USER" -- "$@"
    else
      # shellcheck disable=SC2016 # "$@" is expanded by the user's sh, from these arguments
      su -s /bin/sh -c 'exec "$@"' "$APP_USER" jobmatch-agent "$@"
    fi
  else
    "$@"
  fi
}

# git_dir ARGS...: git in the checkout as its owner, hooks off (a hook would run the owner's code
# between the checks and `up`).
git_dir() {
  as_owner git -c core.hooksPath=/dev/null -C "$DIR" "$@"
}

# compose FILE ENV_FILE ARGS...: docker compose on the app's project, with root's copies of the
# compose file and .env (relative paths in it still resolve in the checkout: --project-directory).
compose() {
  file=$1
  env_file=$2
  shift 2
  docker compose --project-directory "$DIR" -f "$file" --env-file "$env_file" "$@"
}

# install_env SOURCE: SOURCE's bytes become $DIR/.env, mode 0600, written by the checkout's owner: a
# temp file from mktemp, then a rename, which replaces the name (a link too) and never writes
# through it. SOURCE is opened by root, in root's state directory.
install_env() {
  # shellcheck disable=SC2016 # expanded by that sh, from its own arguments
  as_owner sh -c 'umask 077 && t=$(mktemp "$1/.env.jobmatch-agent.XXXXXX") || exit 1
    if cat >"$t" && chmod 600 "$t" && mv -f "$t" "$1/.env"; then exit 0; fi
    rm -f "$t"
    exit 1' jobmatch-agent-env "$DIR" <"$1"
}

# remove_env: no .env in the checkout (removed by its owner).
remove_env() {
  as_owner rm -f "$DIR/.env"
}

# allowed_directory PHYSICAL: 0 when the checkout's real path is one of JOBMATCH_COMPOSE_DIRECTORIES
# or under one (the unit makes only those writable).
allowed_directory() {
  for allowed in $COMPOSE_DIRECTORIES; do
    real=$(cd "$allowed" 2>/dev/null && pwd -P) || real=$allowed
    case $1 in "$real" | "$real"/*) return 0 ;; esac
  done
  return 1
}

# checkout_owner_problem PHYSICAL: prints why root may not write in the checkout without an app user.
checkout_owner_problem() {
  is_root && [ -z "$APP_USER" ] || return 0
  owner=$(stat -c %u "$1") || { printf 'its owner cannot be read'; return 0; }
  mode=$(stat -c %a "$1") || { printf 'its mode cannot be read'; return 0; }
  if [ "$owner" != 0 ]; then
    printf 'is owned by uid %s, not root: set JOBMATCH_APP_USER to its owner in %s (the agent writes in a checkout only as its owner)' "$owner" "$SETTINGS"
  elif [ "$((0$mode & 022))" != 0 ]; then
    printf 'is writable by others than root (mode %s): make it 0755, or set JOBMATCH_APP_USER to a user of its own' "$mode"
  fi
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
  # The previous .env, read by the checkout's owner (a link was refused before; one planted since
  # leads only where that user could read anyway).
  if [ -f "$DIR/.env" ]; then as_owner cat "$DIR/.env" >"$RB.tmp/env" || return 1; fi
  commit=
  if commit=$(git_dir rev-parse --verify --quiet 'HEAD^{commit}'); then
    case $commit in *[!0-9a-f]* | '') commit= ;; *) printf '%s' "$commit" >"$RB.tmp/commit" || return 1 ;; esac
  else
    commit=
  fi
  # The compose file to bring back: the copy kept from the last success, else the commit's own.
  if [ "$(state_get applied-directory)" = "$DIR" ] && [ -f "$STATE/applied-compose.yml" ]; then
    cp "$STATE/applied-compose.yml" "$RB.tmp/compose.yml" || return 1
  elif [ -n "$commit" ] && ! git_dir show "$commit:$(cat "$RB.tmp/file")" >"$RB.tmp/compose.yml" 2>/dev/null; then
    rm -f "$RB.tmp/compose.yml"
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
    remove_env || RESTORE_ERROR="removing the new .env failed"
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
    remove_env || true
    msg="$what; no previous state to roll back to"
  elif ! restore_files; then
    msg="$what; rollback to $label failed: $RESTORE_ERROR"
  elif [ "${3:-}" = up ]; then
    if [ ! -f "$RB/compose.yml" ]; then
      msg="$what; files rolled back to $label, but there is no compose file of it to bring up"
    else
      log "rolling back to $label: docker compose up"
      if [ -f "$RB/env" ]; then rb_env=$RB/env; else rb_env=$WORK/empty.env && : >"$rb_env"; fi
      rb_file=$(cat "$RB/file")
      rm -rf "$WORK/rollback" && mkdir "$WORK/rollback" && cp "$RB/compose.yml" "$WORK/rollback/${rb_file##*/}"
      if compose "$WORK/rollback/${rb_file##*/}" "$rb_env" up -d --remove-orphans; then
        msg="$what; rolled back to $label"
      else
        msg="$what; rollback to $label failed: docker compose up failed"
      fi
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

# refuse_rollout HASH MESSAGE: a signed configuration the agent will not run; nothing was changed.
# Remembered in failed-hash: not retried until the hash changes.
refuse_rollout() {
  log "rollout of $1 refused: $2"
  report_failed "$1" "$2"
  state_put failed-message "$2"
  state_put failed-hash "$1"
}

# still_running: what stays in place after a refusal, in words.
still_running() {
  applied=$(state_get applied-hash)
  if [ -n "$applied" ]; then printf 'still running %s' "$applied"; else printf 'nothing applied before'; fi
}

# refuse_for_now HASH WHAT: nothing was changed, and the cause is outside the signed configuration
# (metadata someone else altered, the deploy key unreadable, a local setting, the checkout's state).
# Not remembered in failed-hash: checked again after a backoff, everything re-read, so the
# operator's next push (of the same hash, maybe) or a fix on the VM heals it. Returns 4.
refuse_for_now() {
  msg="refused: $2; nothing installed, $(still_running)"
  log "rollout of $1: $msg"
  if [ "$(guest_get attempted-hash)" != "$1" ] || [ "$(guest_get status)" != failed ] || [ "$(guest_get message)" != "$msg" ]; then
    guest_put status applying || true
    guest_put attempted-hash "$1" || true
    report_failed "$1" "$msg"
  fi
  return 4
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

# ---------------------------------------------------------------------------------------------
# One rollout. Returns 0 when done (applied, failed or refused for good: reported either way), 1 on
# a transient error before any change (retried after a backoff), 3 when the hash moved meanwhile,
# 4 when refused for now (reported; checked again after a backoff or when the hash changes).
# ---------------------------------------------------------------------------------------------
rollout() {
  h=$1
  # Every key, read after the hash and checked against it again: one setMetadata wrote them all.
  for key in $ROLLOUT_KEYS; do
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

  # 1. Integrity: the hash covers exactly the bytes read.
  if [ "sha256:$(config_document | sha256_hex)" != "${h%%#*}" ]; then
    refuse_for_now "$h" "jobmatch-config-hash does not match the values of the keys it covers ($(hashed_keys_list)): they were changed after it was computed, or not read whole"
    return 4
  fi
  # 2. Authenticity: the operator signed this hash and serial with the deploy key.
  rc=0
  verify_signature "$h" || rc=$?
  case $rc in
    0) ;;
    2) refuse_for_now "$h" "$REASON"; return 4 ;;
    *) return 1 ;;
  esac
  # 3. No replay of an older signed configuration.
  if ! check_serial "$h"; then
    refuse_for_now "$h" "$REASON"
    return 4
  fi

  report_applying "$h"
  log "rollout of $h: validating its metadata (signed with the deploy key, serial $SERIAL)"
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
  # This VM's own settings and the checkout's state: fixed on the VM, so checked again later.
  if ! allowed_directory "$physical"; then
    refuse_for_now "$h" "compose directory $DIR is not in JOBMATCH_COMPOSE_DIRECTORIES ($COMPOSE_DIRECTORIES): add it in $SETTINGS, run the installer again (the unit's ReadWritePaths) and restart jobmatch-agent"
    return 4
  fi
  problem=$(checkout_owner_problem "$physical")
  if [ -n "$problem" ]; then
    refuse_for_now "$h" "compose directory $DIR $problem"
    return 4
  fi
  if [ -L "$DIR/.env" ]; then
    refuse_for_now "$h" "$DIR/.env is a symbolic link: the agent writes no .env through a link (remove it)"
    return 4
  fi
  if [ -e "$DIR/.env" ] && [ ! -f "$DIR/.env" ]; then
    refuse_for_now "$h" "$DIR/.env is not a regular file (remove it)"
    return 4
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
  log "writing $DIR/.env (mode 0600${APP_USER:+, as $APP_USER})"
  if ! install_env "$WORK/env"; then
    fail_rollout "$h" "writing $DIR/.env failed${APP_USER:+ (as $APP_USER: it must own $DIR)}"
    return 0
  fi
  log "git checkout $REF ($sha)"
  if ! git_dir checkout --quiet --detach "$sha"; then
    fail_rollout "$h" "git checkout of $REF ($sha) failed"
    return 0
  fi
  # What root is about to run must be exactly that commit: HEAD, a clean tree, its own compose file.
  head=$(git_dir rev-parse --verify --quiet 'HEAD^{commit}') || head=
  if [ "$head" != "$sha" ]; then
    fail_rollout "$h" "after git checkout, HEAD in $DIR is not $REF ($sha): refusing to run it"
    return 0
  fi
  if ! changed=$(git_dir status --porcelain --untracked-files=no); then
    fail_rollout "$h" "git status in $DIR failed"
    return 0
  fi
  if [ -n "$changed" ]; then
    fail_rollout "$h" "the checkout of $REF ($sha) in $DIR is not clean (git status shows changed files): refusing to run it"
    return 0
  fi
  # Root's copy, under the file's own name (docker compose names it in its messages).
  if ! { rm -rf "$WORK/compose" && mkdir "$WORK/compose"; }; then
    fail_rollout "$h" "could not make $WORK/compose"
    return 0
  fi
  copy=$WORK/compose/${FILE##*/}
  if ! git_dir show "$sha:$FILE" >"$copy"; then
    fail_rollout "$h" "$FILE not found in $REF ($sha)"
    return 0
  fi
  log "docker compose pull ($FILE of $sha)"
  if ! compose "$copy" "$WORK/env" pull; then
    fail_rollout "$h" "docker compose pull failed"
    return 0
  fi
  log "docker compose up -d --remove-orphans ($FILE of $sha)"
  if ! compose "$copy" "$WORK/env" up -d --remove-orphans; then
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
  cp "$copy" "$STATE/applied-compose.yml.tmp" && mv -f "$STATE/applied-compose.yml.tmp" "$STATE/applied-compose.yml"
  state_put applied-directory "$DIR"
  state_put applied-file "$FILE"
  state_put applied-serial "$SERIAL"
  state_put applied-hash "$h"
  rm -rf "$RB" "$STATE/failed-hash" "$STATE/failed-message"
  rm -rf "$WORK/env" "$WORK/compose"
  log "applied $h"
  report_ok "$h"
  return 0
}

# handle HASH: what to do about the hash the metadata server answered.
handle() {
  h=$1
  report_environment
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
# grow_backoff: the next wait doubles, up to JOBMATCH_BACKOFF_MAX.
grow_backoff() {
  BACKOFF=$((BACKOFF * 2))
  [ "$BACKOFF" -le "$BACKOFF_MAX" ] || BACKOFF=$BACKOFF_MAX
}

backoff() {
  log "retrying in $BACKOFF s"
  sleep "$BACKOFF"
  grow_backoff
}

# Waits (long poll) until the attribute list changes, to see jobmatch-config-hash appear.
wait_for_hash_key() {
  code=$(md_get "$MD/instance/attributes/" "$WORK/keys" "$WORK/headers")
  [ "$code" = 200 ] || { warn "listing metadata keys: $(answer_of "$code")"; return 1; }
  grep -qx 'jobmatch-config-hash' "$WORK/keys" && return 0
  etag=$(etag_of "$WORK/headers")
  log "jobmatch-config-hash not set yet: waiting for it"
  code=$(md_get "$MD/instance/attributes/?wait_for_change=true${etag:+&last_etag=$etag}&timeout_sec=$POLL_TIMEOUT" "$WORK/keys" "$WORK/headers")
  [ "$code" = 200 ] || { warn "waiting for metadata keys: $(answer_of "$code")"; return 1; }
}

cleanup() {
  rm -rf "$WORK"
  if [ "$(cat "$STATE/lock/pid" 2>/dev/null || true)" = "$$" ]; then lock_release; fi
}

main() {
  for setting in JOBMATCH_BACKOFF_MAX="$BACKOFF_MAX" JOBMATCH_POLL_TIMEOUT="$POLL_TIMEOUT"; do
    case ${setting#*=} in '' | *[!0-9]* | 0) echo "jobmatch-agent: ${setting%%=*} must be a positive whole number" >&2; exit 2 ;; esac
  done
  case $HEALTH_INTERVAL in '' | *[!0-9.]* | *.*.* | .*) echo "jobmatch-agent: JOBMATCH_HEALTH_INTERVAL must be a number of seconds" >&2; exit 2 ;; esac
  case $APP_USER in *[!a-z0-9_.-]* | -*) echo "jobmatch-agent: JOBMATCH_APP_USER is not a user name" >&2; exit 2 ;; esac
  case $STATE in /*) ;; *) echo "jobmatch-agent: JOBMATCH_STATE_DIR must be absolute" >&2; exit 2 ;; esac
  valid_health_url "$SECRET_MANAGER" || { echo "jobmatch-agent: JOBMATCH_SECRET_MANAGER_URL $REASON" >&2; exit 2; }
  [ -n "$COMPOSE_DIRECTORIES" ] || { echo "jobmatch-agent: JOBMATCH_COMPOSE_DIRECTORIES is empty" >&2; exit 2; }
  for allowed in $COMPOSE_DIRECTORIES; do
    valid_directory "$allowed" || { echo "jobmatch-agent: JOBMATCH_COMPOSE_DIRECTORIES: $allowed $REASON" >&2; exit 2; }
  done
  # The padded deploy key goes through printf: a printf that is a program would show it in /proc.
  case $(command -V printf 2>/dev/null) in
    *builtin*) ;;
    *) echo "jobmatch-agent: this sh has no builtin printf: run the agent with dash, bash or busybox sh" >&2; exit 2 ;;
  esac
  for tool in curl git docker base64 od; do
    command -v "$tool" >/dev/null 2>&1 || warn "$tool not found on PATH: rollouts will fail"
  done
  command -v sha256sum >/dev/null 2>&1 || command -v openssl >/dev/null 2>&1 || warn "neither sha256sum nor openssl found on PATH: rollouts will fail"
  [ -n "$ENVIRONMENT" ] || warn "JOBMATCH_ENVIRONMENT is not set in $SETTINGS: every rollout is refused until it is"
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
  trap cleanup EXIT
  trap 'log "stopping"; exit 0' TERM INT HUP
  log "started (metadata $MD, environment ${ENVIRONMENT:-unset}, state $STATE, applied: $(state_get applied-hash | grep . || echo none))"
  report_environment

  # synced: the answer last read was handled: long-poll for the next one.
  # retry: it was refused for now: long-poll, but for BACKOFF s only, then check it again.
  # fresh: read it again now (after an error).
  mode=fresh
  etag=
  while :; do
    case $mode in
      synced) url="$MD/instance/attributes/jobmatch-config-hash?wait_for_change=true${etag:+&last_etag=$etag}&timeout_sec=$POLL_TIMEOUT" ;;
      retry) url="$MD/instance/attributes/jobmatch-config-hash?wait_for_change=true${etag:+&last_etag=$etag}&timeout_sec=$BACKOFF" ;;
      *) url="$MD/instance/attributes/jobmatch-config-hash" ;;
    esac
    code=$(md_get "$url" "$WORK/hash" "$WORK/headers")
    case $code in
      200)
        new_etag=$(etag_of "$WORK/headers")
        hash=$(cat "$WORK/hash" 2>/dev/null || true)
        # The same answer again (the long poll's timeout): nothing changed.
        if [ "$mode" = synced ] && [ -n "$etag" ] && [ "$new_etag" = "$etag" ]; then continue; fi
        if [ "$mode" = retry ]; then grow_backoff; fi
        rc=0
        handle "$hash" || rc=$?
        case $rc in
          0 | 3) mode=synced etag=$new_etag BACKOFF=1 ;; # 3: the next long poll answers at once with the newer hash
          4) mode=retry etag=$new_etag; log "checking it again in $BACKOFF s, or when jobmatch-config-hash changes" ;;
          *) mode=fresh; backoff ;;
        esac
        ;;
      404)
        mode=fresh
        BACKOFF=1
        wait_for_hash_key || backoff
        ;;
      *)
        warn "reading jobmatch-config-hash: $(answer_of "$code")"
        mode=fresh
        backoff
        ;;
    esac
  done
}

case ${1:-} in
  validate)
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
    ;;
  sign)
    # jobmatch-agent sign ROLLOUT_ID SERIAL, the deploy key's bytes in base64 on stdin: prints the
    # jobmatch-config-signature the agent expects (to check one by hand; the tests compare it with node's).
    [ "$#" = 3 ] || { echo "usage: jobmatch-agent sign ROLLOUT_ID SERIAL < base64-of-the-key" >&2; exit 2; }
    valid_hash "$2" || { echo "jobmatch-agent: ROLLOUT_ID $REASON" >&2; exit 2; }
    valid_serial "$3" || { echo "jobmatch-agent: SERIAL is not a serial (1 to 18 digits, no leading 0)" >&2; exit 2; }
    KEY_BYTES=$(base64 -d | od -An -v -tu1)
    case $KEY_BYTES in *[0-9]*) ;; *) echo "jobmatch-agent: no key on standard input (its base64)" >&2; exit 1 ;; esac
    printf 'hmac-sha256:%s\n' "$(signed_message "$2" "$3" | hmac_sha256_hex)"
    exit 0
    ;;
esac
[ "$#" = 0 ] || { echo "usage: jobmatch-agent [validate ref|file|directory VALUE | sign ROLLOUT_ID SERIAL]" >&2; exit 2; }
main
