#!/usr/bin/env bash
# Builds the test rig's binaries from source through the Go module proxy and
# caches them in <repo>/.rig/bin. Idempotent: a component whose binaries exist
# and whose stamp (.rig/stamps/<family>) matches the wanted recipe is skipped,
# so a warm run takes well under a second.
#
# Usage: test/rig/build.sh [kube] [etcd] [kwok] [adapter] [kubeblocks] [knative] [promtool]
#        (default: all but the optional promtool)
#        RIG_FORCE=1 test/rig/build.sh ...                   (rebuild anyway)
#
# Families, each built from its own throwaway module in .rig/build/<family>:
#   kube    kube-apiserver, kube-scheduler, kube-controller-manager (one go build)
#   etcd    etcd
#   kwok    kwok
#   adapter Knative eventing's ApiServerSource receive adapter
#   kubeblocks KubeBlocks' dataprotection controller (cmd/dataprotection) and the CRDs it watches,
#           copied from the modules into .rig/crds/kubeblocks
#   promtool (optional, not in the default set) Prometheus' promtool, which checks and unit-tests
#           eventing/monitoring/'s rules (test/rig/promtool-check.ts, run by hand: its build compiles
#           Prometheus' whole service discovery, 14.5 CPU-min, 89 min wall on the shared 2 cores)
#   knative knative-check (test/knative/main.go): Knative Eventing's and Serving's own webhook
#           defaults/validation and Eventing's Trigger filters, called on eventing/ by test/knative/;
#           Eventing's default ConfigMaps copied from the module into .rig/knative/config
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RIG="${RIG_DIR:-$ROOT/.rig}"
BIN="$RIG/bin"
STAMPS="$RIG/stamps"
BUILD="$RIG/build"
LOGS="$RIG/logs"

# Pinned versions (all served by the Go module proxy).
KUBE_VERSION="${RIG_KUBE_VERSION:-v1.34.4}"      # latest 1.34 patch the proxy had
ETCD_VERSION="${RIG_ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${RIG_KWOK_VERSION:-v0.8.0}"
# knative.dev/eventing tags each knative-v1.N.P release also as the Go version
# v0.(N+27).P; v0.48.2 is knative-v1.21.2.
KNATIVE_EVENTING_VERSION="${RIG_KNATIVE_EVENTING_VERSION:-v0.48.2}"
# KubeBlocks v1.0.2: the release with the restore-manager sidecar. Pin it exactly: the proxy refuses
# the module's version list, so `go install …@v1.0.2` and version queries fail; `go get` of the
# exact version inside a module works.
KUBEBLOCKS_VERSION="${RIG_KUBEBLOCKS_VERSION:-v1.0.2}"
# github.com/prometheus/prometheus tags Prometheus 3.N.P also as the Go version v0.3NN.P.
PROMETHEUS_VERSION="${RIG_PROMETHEUS_VERSION:-v0.316.0}"
# knative.dev/serving tags like eventing: v0.48.2 is knative-v1.21.2 (knative-check's Service type).
KNATIVE_SERVING_VERSION="${RIG_KNATIVE_SERVING_VERSION:-v0.48.2}"
RECIPE=3   # bump when the build recipe below changes

export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
export CGO_ENABLED=0
GO="${GO:-go}"
if ! command -v "$GO" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi
if ! command -v "$GO" >/dev/null 2>&1; then
  echo "rig:build: no Go toolchain found (tried \$GO=$GO and /usr/local/go/bin/go). The test rig builds" >&2
  echo "kube-apiserver, etcd, KWOK and Knative's adapter from the Go module proxy: install Go 1.24 or newer" >&2
  echo "and put it on PATH (or set GO=/path/to/go), then run npm test again." >&2
  exit 2
fi
GOVERSION="$("$GO" env GOVERSION)"

mkdir -p "$BIN" "$STAMPS" "$BUILD" "$LOGS"

log() { printf '[rig:build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# fresh <family> <stamp> <binaries...>: 0 if all binaries exist and the stamp matches.
fresh() {
  local fam="$1" stamp="$2"; shift 2
  [ -n "${RIG_FORCE:-}" ] && return 1
  [ -f "$STAMPS/$fam" ] && [ "$(cat "$STAMPS/$fam")" = "$stamp" ] || return 1
  local b; for b in "$@"; do [ -x "$BIN/$b" ] || return 1; done
  return 0
}

# progress <logfile>: reads `go build -v` output on stdin, logs it, prints a line every 100 packages.
progress() {
  local logfile="$1" n=0 line
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$logfile"
    n=$((n + 1))
    if [ $((n % 100)) -eq 0 ]; then log "  ... $n packages compiled"; fi
  done
  log "  ... $n packages compiled in total"
}

# gobuild <family> <module dir> <ldflags> <packages...>: builds into $BIN, streaming progress.
gobuild() {
  local fam="$1" dir="$2" ldflags="$3"; shift 3
  local logfile="$LOGS/build-$fam.log"
  log "$fam: compiling $* (log: $logfile)"
  : >"$logfile"
  # The caller checks that the binaries exist (go's exit code is lost in the pipe).
  (cd "$dir" && "$GO" build -p 2 -v -trimpath -ldflags "-s -w $ldflags" -o "$BIN/" "$@" 2>&1) | progress "$logfile" || true
}

modinit() {
  local fam="$1" dir="$BUILD/$1"
  rm -rf "$dir"; mkdir -p "$dir"
  printf '%s\n' "$dir"
}

build_kube() {
  local stamp="kube $KUBE_VERSION $GOVERSION recipe$RECIPE"
  if fresh kube "$stamp" kube-apiserver kube-scheduler kube-controller-manager; then
    log "kube $KUBE_VERSION: cached"; return 0
  fi
  local t0=$SECONDS dir; dir="$(modinit kube)"
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local staging="v0.$minor.${KUBE_VERSION##*.}"
  log "kube $KUBE_VERSION: downloading k8s.io/kubernetes"
  local kdir; kdir="$(cd "$dir" && "$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -f "$kdir/go.mod" ] || { log "cannot find go.mod of k8s.io/kubernetes@$KUBE_VERSION"; return 1; }
  # Every staging module replaced to ./staging/... upstream is replaced to its published vX twin.
  local mods; mods="$(sed -n 's/^[[:space:]]*\(k8s\.io\/[^[:space:]]*\) => \.\/staging\/.*/\1/p' "$kdir/go.mod")"
  {
    echo "module rig.local/kube"
    echo
    echo "go 1.24.0"
    echo
    grep '^godebug' "$kdir/go.mod" || true
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    local m; for m in $mods; do echo "	$m => $m $staging"; done
    echo ")"
  } >"$dir/go.mod"
  log "kube: $(echo "$mods" | wc -l) staging modules replaced by $staging; resolving dependencies"
  local pkgs="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-controller-manager"
  # `go get` fills go.sum for exactly the packages we build (downloads modules).
  (cd "$dir" && "$GO" get $(for p in $pkgs; do printf '%s@%s ' "$p" "$KUBE_VERSION"; done) >>"$LOGS/build-kube.log" 2>&1) || { log "kube: go get failed, see $LOGS/build-kube.log"; tail -20 "$LOGS/build-kube.log"; return 1; }
  local date; date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ld="" kv
  for kv in "gitVersion=$KUBE_VERSION" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean" "buildDate=$date"; do
    ld="$ld -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
  done
  rm -f "$BIN/kube-apiserver" "$BIN/kube-scheduler" "$BIN/kube-controller-manager"
  gobuild kube "$dir" "$ld" $pkgs
  for b in kube-apiserver kube-scheduler kube-controller-manager; do
    [ -x "$BIN/$b" ] || { log "kube: $b missing after build, see $LOGS/build-kube.log"; tail -30 "$LOGS/build-kube.log"; return 1; }
  done
  echo "$stamp" >"$STAMPS/kube"
  log "kube $KUBE_VERSION: built in $((SECONDS - t0))s"
}

build_etcd() {
  local stamp="etcd $ETCD_VERSION $GOVERSION recipe$RECIPE"
  if fresh etcd "$stamp" etcd; then log "etcd $ETCD_VERSION: cached"; return 0; fi
  local t0=$SECONDS dir; dir="$(modinit etcd)"
  # go.etcd.io/etcd/server/v3 is etcd's main package; its go.mod uses local
  # replaces, which are ignored when it is a dependency, so pin the siblings.
  local ver="$ETCD_VERSION"
  cat >"$dir/go.mod" <<EOF
module rig.local/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 $ver

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ver
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ver
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ver
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ver
)
EOF
  log "etcd $ver: resolving dependencies"
  : >"$LOGS/build-etcd.log"
  (cd "$dir" && "$GO" get "go.etcd.io/etcd/server/v3@$ver" >>"$LOGS/build-etcd.log" 2>&1) || { log "etcd: go get failed"; tail -20 "$LOGS/build-etcd.log"; return 1; }
  rm -f "$BIN/etcd" "$BIN/v3"
  # The package path ends in /v3, so build to an explicit file name.
  log "etcd: compiling (log: $LOGS/build-etcd.log)"
  (cd "$dir" && "$GO" build -p 2 -v -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3 2>&1) | progress "$LOGS/build-etcd.log" || true
  [ -x "$BIN/etcd" ] || { log "etcd: binary missing, see $LOGS/build-etcd.log"; tail -30 "$LOGS/build-etcd.log"; return 1; }
  echo "$stamp" >"$STAMPS/etcd"
  log "etcd $ver: built in $((SECONDS - t0))s"
}

# A Go command from one module on the proxy (KWOK, Knative's adapter): a throwaway module that
# requires it, `go get`, `go build`, a stamp. The stamp keeps its old form ("<fam> <version> ...").
#   build_cmd FAMILY TITLE VERSION MODULE PACKAGE BINARY LDFLAGS
build_cmd() {
  local fam="$1" title="$2" ver="$3" module="$4" pkg="$5" binary="$6" ldflags="$7"
  local stamp="$fam $ver $GOVERSION recipe$RECIPE"
  if fresh "$fam" "$stamp" "$binary"; then log "$title $ver: cached"; return 0; fi
  local t0=$SECONDS dir; dir="$(modinit "$fam")"
  printf 'module rig.local/%s\n\ngo 1.24.0\n\nrequire %s %s\n' "$fam" "$module" "$ver" >"$dir/go.mod"
  log "$title $ver: resolving dependencies"
  : >"$LOGS/build-$fam.log"
  (cd "$dir" && "$GO" get "$pkg@$ver" >>"$LOGS/build-$fam.log" 2>&1) || { log "$fam: go get failed"; tail -20 "$LOGS/build-$fam.log"; return 1; }
  rm -f "$BIN/$binary"
  gobuild "$fam" "$dir" "$ldflags" "$pkg"
  [ -x "$BIN/$binary" ] || { log "$fam: binary missing"; tail -30 "$LOGS/build-$fam.log"; return 1; }
  echo "$stamp" >"$STAMPS/$fam"
  log "$title $ver: built in $((SECONDS - t0))s"
}

build_kwok() {
  build_cmd kwok kwok "$KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
}

build_adapter() {
  build_cmd adapter "knative eventing apiserver_receive_adapter" "$KNATIVE_EVENTING_VERSION" knative.dev/eventing \
    knative.dev/eventing/cmd/apiserver_receive_adapter apiserver_receive_adapter ""
}

# The CRDs the dataprotection manager watches: without any one of them its cache sync times out
# after 2 min and it exits. All of dataprotection.kubeblocks.io; apps.kubeblocks.io Cluster and
# ComponentDefinition; snapshot.storage.k8s.io VolumeSnapshot (from external-snapshotter, a dependency).
KB_CRDS=(
  "github.com/apecloud/kubeblocks config/crd/bases dataprotection.kubeblocks.io_actionsets.yaml"
  "github.com/apecloud/kubeblocks config/crd/bases dataprotection.kubeblocks.io_backuppolicies.yaml"
  "github.com/apecloud/kubeblocks config/crd/bases dataprotection.kubeblocks.io_backuppolicytemplates.yaml"
  "github.com/apecloud/kubeblocks config/crd/bases dataprotection.kubeblocks.io_backuprepos.yaml"
  "github.com/apecloud/kubeblocks config/crd/bases dataprotection.kubeblocks.io_backups.yaml"
  "github.com/apecloud/kubeblocks config/crd/bases dataprotection.kubeblocks.io_backupschedules.yaml"
  "github.com/apecloud/kubeblocks config/crd/bases dataprotection.kubeblocks.io_restores.yaml"
  "github.com/apecloud/kubeblocks config/crd/bases dataprotection.kubeblocks.io_storageproviders.yaml"
  "github.com/apecloud/kubeblocks config/crd/bases apps.kubeblocks.io_clusters.yaml"
  "github.com/apecloud/kubeblocks config/crd/bases apps.kubeblocks.io_componentdefinitions.yaml"
  "github.com/kubernetes-csi/external-snapshotter/client/v6 config/crd snapshot.storage.k8s.io_volumesnapshots.yaml"
)

build_kubeblocks() {
  build_cmd kubeblocks "kubeblocks dataprotection" "$KUBEBLOCKS_VERSION" github.com/apecloud/kubeblocks \
    github.com/apecloud/kubeblocks/cmd/dataprotection dataprotection ""
  local out="$RIG/crds/kubeblocks" entry mod sub file dir
  mkdir -p "$out"
  for entry in "${KB_CRDS[@]}"; do
    read -r mod sub file <<<"$entry"
    [ -s "$out/$file" ] && continue
    dir="$(cd "$BUILD/kubeblocks" && "$GO" list -m -f '{{.Dir}}' "$mod")"
    [ -s "$dir/$sub/$file" ] || { log "kubeblocks: CRD $file not found in $mod"; return 1; }
    cp "$dir/$sub/$file" "$out/$file" && chmod 644 "$out/$file"
  done
  log "kubeblocks: ${#KB_CRDS[@]} CRDs in $out"
}

build_promtool() {
  build_cmd promtool "prometheus promtool" "$PROMETHEUS_VERSION" github.com/prometheus/prometheus \
    github.com/prometheus/prometheus/cmd/promtool promtool ""
}

# knative-check: our own main package (test/knative/main.go) in a throwaway module that requires
# Eventing and Serving at the rig's versions. The stamp carries the source's hash, so an edit rebuilds.
build_knative() {
  local src="$ROOT/test/knative/main.go"
  local sum; sum="$(sha256sum "$src" | cut -c1-16)"
  local stamp="knative eventing $KNATIVE_EVENTING_VERSION serving $KNATIVE_SERVING_VERSION src $sum $GOVERSION recipe$RECIPE"
  if fresh knative "$stamp" knative-check && [ -s "$RIG/knative/config/default-broker.yaml" ]; then log "knative-check $KNATIVE_EVENTING_VERSION: cached"; return 0; fi
  local t0=$SECONDS dir; dir="$(modinit knative)"
  mkdir -p "$dir/cmd/knative-check"
  cp "$src" "$dir/cmd/knative-check/main.go"
  printf 'module rig.local/knative\n\ngo 1.24.0\n\nrequire (\n\tknative.dev/eventing %s\n\tknative.dev/serving %s\n)\n' \
    "$KNATIVE_EVENTING_VERSION" "$KNATIVE_SERVING_VERSION" >"$dir/go.mod"
  log "knative-check (eventing $KNATIVE_EVENTING_VERSION, serving $KNATIVE_SERVING_VERSION): resolving dependencies"
  : >"$LOGS/build-knative.log"
  (cd "$dir" && "$GO" mod tidy >>"$LOGS/build-knative.log" 2>&1) || { log "knative: go mod tidy failed"; tail -20 "$LOGS/build-knative.log"; return 1; }
  rm -f "$BIN/knative-check"
  gobuild knative "$dir" "" ./cmd/knative-check
  [ -x "$BIN/knative-check" ] || { log "knative: binary missing"; tail -30 "$LOGS/build-knative.log"; return 1; }
  # The release's own default ConfigMaps, which a cluster's webhook has loaded (the default broker class).
  local cfg="$RIG/knative/config" mdir; mdir="$(cd "$dir" && "$GO" list -m -f '{{.Dir}}' knative.dev/eventing)"
  mkdir -p "$cfg"
  for f in default-broker.yaml features.yaml; do
    cp "$mdir/config/core/configmaps/$f" "$cfg/$f" && chmod 644 "$cfg/$f" || { log "knative: $f not found in $mdir"; return 1; }
  done
  echo "$stamp" >"$STAMPS/knative"
  log "knative-check: built in $((SECONDS - t0))s"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(kube etcd kwok adapter kubeblocks knative)
T0=$SECONDS
for t in "${targets[@]}"; do
  case "$t" in
    kube) build_kube ;;
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    adapter) build_adapter ;;
    kubeblocks) build_kubeblocks ;;
    knative) build_knative ;;
    promtool) build_promtool ;;
    *) echo "unknown component: $t (kube|etcd|kwok|adapter|kubeblocks|knative|promtool)" >&2; exit 2 ;;
  esac
done
log "done in $((SECONDS - T0))s; binaries in $BIN"
