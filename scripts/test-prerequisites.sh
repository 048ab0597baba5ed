#!/bin/sh
# What `npm test` needs besides Node and node_modules, provided before the tests run (package.json's
# "test" runs this first): the system tools the tests run, installed with apt-get when missing (with
# sudo when not root), then the Go-built test tools (kube-apiserver and etcd, the apiserver and gitops
# checks, Helm, actionlint) built once and cached in ${XDG_CACHE_HOME:-~/.cache}/jobmatch-operator by
# scripts/test-tools.ts. Without apt-get (macOS, Fedora...) it lists what to install and fails: the
# tests would fail anyway. Nothing is ever skipped. Cached, it takes a few seconds.
#   sh scripts/test-prerequisites.sh           check, install, build
#   sh scripts/test-prerequisites.sh --check   only say what is missing and would be installed/built;
#                                              exit 1 when something cannot be provided here, else 0
set -eu

check=false
case "${1:-}" in
  --check) check=true ;;
  '') ;;
  *) echo "usage: sh scripts/test-prerequisites.sh [--check]" >&2; exit 2 ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

have() { command -v "$1" >/dev/null 2>&1; }

# Which tests need each tool (the messages name them).
needed_by() {
  case "$1" in
    go) echo "test/kube (the controller's real kube-apiserver and etcd), test/apiserver-check, test/gitops-check, Helm and actionlint are built with it" ;;
    buildah|podman|runc) echo "test/image (builds the Dockerfile and runs the image)" ;;
    openssl) echo "test/kube's cluster certificates, the VM agent's signature tests" ;;
    shellcheck) echo "test/vm-agent/shellcheck.test.ts" ;;
    curl) echo "the VM agent tests (test/vm-agent) and test/cli/demo.test.ts" ;;
    git) echo "test/cli/cli.test.ts, test/vm-agent" ;;
    java) echo "the Pub/Sub emulator (a Java program): the drift-event tests" ;;
    gcloud) echo "test/sandbox/gcloud-compute, test/sandbox/logging-sinks, test/engine/deployment (the real gcloud against the sandbox)" ;;
    kubectl) echo "test/api/apiserver-acceptance, test/controller/cluster, test/image/install-manifests" ;;
    pubsub-emulator) echo "the drift-event tests (test/controller/drift-events, test/cli/*drift-events*, test/sandbox/audit-log-publishing, logging-sinks)" ;;
  esac
}

# The Pub/Sub emulator's jar in the Google Cloud SDK (where test/support/pubsub-emulator.ts looks).
emulator_present() {
  roots="${CLOUDSDK_ROOT_DIR:-} /usr/lib/google-cloud-sdk /usr/share/google-cloud-sdk /google-cloud-sdk"
  if have gcloud; then
    gcloud_path="$(command -v gcloud)"
    roots="$roots $(dirname "$(dirname "$(readlink -f "$gcloud_path" 2>/dev/null || echo "$gcloud_path")")")"
  fi
  for sdk in $roots; do
    for jar in "$sdk"/platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar; do
      [ -f "$jar" ] && return 0
    done
  done
  return 1
}

# Go: test/apiserver-check and test/gitops-check need >= 1.22, test/kube 1.26 (their go.mod): a Go >= 1.21
# fetches the toolchain a go.mod asks for by itself, unless GOTOOLCHAIN=local. Prints what is wrong, if anything.
go_problem() {
  go_version="$(go env GOVERSION 2>/dev/null || echo "a go whose 'go env' fails")"
  go_minor="$(echo "$go_version" | sed -n -E 's/^go1\.([0-9]+).*/\1/p')"
  if [ "${go_minor:-0}" -lt 21 ]; then
    echo "$go_version cannot build the Go test tools (test/apiserver-check needs Go >= 1.22, test/kube 1.26): install Go >= 1.22 from https://go.dev/doc/install (Debian 12's golang-go is 1.19)"
  elif [ "$go_minor" -lt 26 ] && [ "$(go env GOTOOLCHAIN 2>/dev/null)" = local ]; then
    echo "$go_version with GOTOOLCHAIN=local cannot build test/kube (its go.mod asks for Go 1.26): go env -w GOTOOLCHAIN=auto (it then fetches go1.26 itself), or install Go >= 1.26 (https://go.dev/doc/install)"
  fi
}

present=""
missing=""
for tool in go buildah podman runc openssl shellcheck curl git java gcloud kubectl; do
  if have "$tool"; then present="$present $tool"; else missing="$missing $tool"; fi
done
if emulator_present; then present="$present pubsub-emulator"; else missing="$missing pubsub-emulator"; fi

# apt's candidate version of a package, empty when apt knows no installable one.
candidate() {
  have apt-cache || return 0
  apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '^(none)$' || true
}

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo "; fi
as_root() { if [ -n "$sudo" ]; then sudo "$@"; else "$@"; fi; }

# The apt packages for the missing tools; what apt cannot provide goes to `unresolved`, with how to get it.
packages=""
components=""
unresolved=""
google_repo_hint="Google's apt repository (https://cloud.google.com/sdk/docs/install#deb) provides google-cloud-cli, google-cloud-cli-pubsub-emulator and kubectl"
if have apt-get; then
  for tool in $missing; do
    case "$tool" in
      go)
        go_candidate="$(candidate golang-go)"
        go_candidate_minor="$(echo "${go_candidate#*:}" | sed -n -E 's/^1\.([0-9]+).*/\1/p')"
        if [ -z "$go_candidate" ]; then
          unresolved="$unresolved
  go: apt knows no golang-go: install Go >= 1.22 from https://go.dev/doc/install"
        elif [ "${go_candidate_minor:-0}" -lt 21 ]; then
          unresolved="$unresolved
  go: this distribution's golang-go is ${go_candidate#*:}, too old (Debian 12 ships 1.19; Go >= 1.21 fetches the 1.26 toolchain test/kube asks for by itself):
      install Go >= 1.22 from https://go.dev/doc/install (e.g. tar -C /usr/local -xzf go1.26.*.linux-amd64.tar.gz; PATH=\$PATH:/usr/local/go/bin)"
        else
          packages="$packages golang-go"
        fi ;;
      podman) packages="$packages podman catatonit" ;; # catatonit: podman run --init (a Recommends of podman)
      java)
        if [ -n "$(candidate openjdk-17-jre-headless)" ]; then packages="$packages openjdk-17-jre-headless"
        else packages="$packages default-jre-headless"; fi ;;
      gcloud)
        if [ -n "$(candidate google-cloud-cli)" ]; then packages="$packages google-cloud-cli"
        else unresolved="$unresolved
  gcloud: apt has no google-cloud-cli: add $google_repo_hint, or install the SDK from https://cloud.google.com/sdk/docs/install"; fi ;;
      kubectl)
        if [ -n "$(candidate kubectl)" ]; then packages="$packages kubectl"
        elif have gcloud; then components="$components kubectl"
        else unresolved="$unresolved
  kubectl: apt has no kubectl: add $google_repo_hint, or see https://kubernetes.io/docs/tasks/tools/"; fi ;;
      pubsub-emulator)
        if [ -n "$(candidate google-cloud-cli-pubsub-emulator)" ]; then packages="$packages google-cloud-cli-pubsub-emulator"
        elif have gcloud; then components="$components pubsub-emulator"
        else unresolved="$unresolved
  the Pub/Sub emulator: apt has no google-cloud-cli-pubsub-emulator: add $google_repo_hint (or gcloud components install pubsub-emulator)"; fi ;;
      *) packages="$packages $tool" ;;
    esac
  done
fi
if have go; then
  problem="$(go_problem)"
  if [ -n "$problem" ]; then unresolved="$unresolved
  go: $problem"; fi
fi
apt_install="${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$packages"

# The project's Node (every npm script runs on node_modules/.bin/node): the major package.json pins.
node="$root/node_modules/.bin/node"
if [ ! -x "$node" ]; then
  echo "error: $node not found: run npm ci first (it installs the project's Node, the dev dependency 'node')" >&2
  exit 1
fi
project_node="$("$node" --version)"
pinned_major="$("$node" -p 'require("./package.json").devDependencies.node.match(/\d+/)[0]')"

echo "test prerequisites (scripts/test-prerequisites.sh):"
echo "  present:${present:- none}"
echo "  missing:${missing:- none}"
for tool in $missing; do echo "    $tool: $(needed_by "$tool")"; done
if [ -n "$packages" ]; then
  echo "  to install: ${sudo}apt-get update && $apt_install"
fi
if [ -n "$components" ]; then echo "  to install: gcloud components install$components --quiet"; fi
if have go; then
  go_version="$(go env GOVERSION 2>/dev/null || true)"
  case "$go_version" in
    go1.2[6-9]*|go1.[3-9]*) echo "  go: $go_version" ;;
    *) echo "  go: $go_version, GOTOOLCHAIN=$(go env GOTOOLCHAIN) (test/kube's go.mod asks for go1.26: unless GOTOOLCHAIN=local, Go fetches it itself, ~70 MB)" ;;
  esac
fi
echo "  node: $project_node (node_modules/.bin/node; package.json pins $pinned_major.x)"
if [ "$project_node" = "${project_node#v"$pinned_major".}" ]; then
  echo "error: npm scripts would run on node $project_node, not $pinned_major.x: did npm skip the install script of the dev dependency 'node'? (package.json allowScripts)" >&2
  exit 1
fi

# The Go-built test tools: which are cached, which would be built now and how long that takes.
tools() { "$node" "$root/node_modules/tsx/dist/cli.mjs" "$root/scripts/test-tools.ts" "$@"; }
builds=0
tools --plan || builds=$?
if [ "$builds" -ne 0 ] && [ "$builds" -ne 10 ]; then exit "$builds"; fi

if [ -n "$missing" ] && ! have apt-get; then
  echo "error: apt-get not found: install these yourself, then run npm test again:" >&2
  for tool in $missing; do echo "  $tool: $(needed_by "$tool")" >&2; done
  # One command per platform, for the missing tools only (the package names differ).
  dnf="" brew="" pacman="" elsewhere=""
  for tool in $missing; do
    case "$tool" in
      go) dnf="$dnf golang"; brew="$brew go"; pacman="$pacman go" ;;
      podman) dnf="$dnf podman catatonit"; pacman="$pacman podman catatonit"; elsewhere="$elsewhere
  podman, buildah, runc: Linux only (the image test builds and runs a Linux image): on macOS run the tests in a Linux VM" ;;
      buildah|runc) dnf="$dnf $tool"; pacman="$pacman $tool"; elsewhere="$elsewhere
  podman, buildah, runc: Linux only (the image test builds and runs a Linux image): on macOS run the tests in a Linux VM" ;;
      shellcheck) dnf="$dnf ShellCheck"; brew="$brew shellcheck"; pacman="$pacman shellcheck" ;;
      java) dnf="$dnf java-17-openjdk-headless"; brew="$brew openjdk@17"; pacman="$pacman jre17-openjdk-headless" ;;
      gcloud|kubectl|pubsub-emulator) elsewhere="$elsewhere
  gcloud, kubectl, the Pub/Sub emulator: the Google Cloud SDK (https://cloud.google.com/sdk/docs/install; on macOS brew install --cask google-cloud-sdk), then gcloud components install pubsub-emulator kubectl" ;;
      *) dnf="$dnf $tool"; brew="$brew $tool"; pacman="$pacman $tool" ;;
    esac
  done
  [ -n "$dnf" ] && echo "  Fedora/RHEL: sudo dnf install -y$dnf" >&2
  [ -n "$brew" ] && echo "  macOS (Homebrew): brew install$brew" >&2
  [ -n "$pacman" ] && echo "  Arch: sudo pacman -S --needed$pacman" >&2
  [ -n "$elsewhere" ] && printf '%s\n' "$elsewhere" | sort -u | sed '/^$/d' >&2
  echo "  Go must be >= 1.22 (https://go.dev/doc/install); Go >= 1.21 fetches the 1.26 toolchain test/kube asks for unless GOTOOLCHAIN=local" >&2
  exit 1
fi
if [ -n "$unresolved" ]; then
  echo "  to fix by hand:$unresolved"
fi

if $check; then
  [ -z "$unresolved" ] || exit 1
  exit 0
fi

if [ -n "$packages" ]; then
  if [ -n "$sudo" ] && ! have sudo; then
    echo "error: not root and no sudo: run as root:  apt-get update && $apt_install" >&2
    exit 1
  fi
  echo "installing with apt-get:$packages"
  as_root apt-get update
  # shellcheck disable=SC2086 # $packages is a list of words
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages
fi
if [ -n "$components" ]; then
  echo "installing with gcloud components:$components"
  # shellcheck disable=SC2086 # $components is a list of words
  gcloud components install $components --quiet || {
    echo "error: gcloud components install$components failed (an SDK installed with apt has no component manager): add $google_repo_hint" >&2
    exit 1
  }
fi
if [ -n "$unresolved" ]; then
  echo "error: not provided (see above how; the tests that need them would fail):$unresolved" >&2
  exit 1
fi
still=""
for tool in $missing; do
  if [ "$tool" = pubsub-emulator ]; then emulator_present || still="$still $tool"
  else have "$tool" || still="$still $tool"; fi
done
if [ -n "$still" ]; then
  echo "error: still missing after the install:$still" >&2
  exit 1
fi

problem="$(go_problem)"
if [ -n "$problem" ]; then echo "error: $problem" >&2; exit 1; fi

if [ "$builds" -eq 10 ]; then tools --build; fi
