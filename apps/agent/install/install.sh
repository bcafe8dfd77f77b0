#!/usr/bin/env bash
# Slipstream agent installer. The API renders it at GET /install.sh with its public URL and the checksums
# of what it serves filled in, so the one-liner needs nothing else:
#
#   curl -fsSL <api>/install.sh | sudo bash -s -- --token sls_j_…
#
# Files: /etc/slipstream/agent.env (0600: API URL, join token, name; sourced by the launcher),
# /var/lib/slipstream/control.json (0600: the agent's own credential, written at its first start, which
# then blanks the join token in agent.env),
# /opt/slipstream/{bin/slipstream-agent (launcher), lib/slipstream-agent.mjs (bundle), node/ (runtime,
# only when the host has no Node >= 20)}, /etc/systemd/system/slipstream-agent.service.
# Re-running upgrades in place and keeps the credential; --uninstall removes all of it and the agent's
# kernel state (nft table, rules, routes, tunnel, VIP addresses) in the network namespace it runs in.
set -euo pipefail

API_URL='@@PUBLIC_URL@@'
AGENT_VERSION='@@AGENT_VERSION@@'
BUNDLE_SHA256='@@BUNDLE_SHA256@@'
NODE_SHA256='@@NODE_SHA256@@'
NODE_VERSION='@@NODE_VERSION@@'
NODE_ARCH='@@NODE_ARCH@@'
# The SYN-ACK hold helper, built with the agent for NODE_ARCH; empty when the API has none to serve.
HOLD_SHA256='@@HOLD_SHA256@@'
MIN_NODE_MAJOR=20
UNIT_NAME=slipstream-agent.service

die() {
  echo "slipstream-install: $*" >&2
  exit 1
}
say() { echo "slipstream-install: $*"; }

usage() {
  cat <<EOF
usage: curl -fsSL $API_URL/install.sh | sudo bash -s -- --token <join token> [options]
  --token <sls_j_…>      join token from the console's "Add agent" (required for a first install)
  --name <name>          agent name in the API (default: this host's name)
  --underlay <ipv4>      address other agents reach this host at (default: detected at first start)
  --agent-api <url>      API URL the agent uses when it differs from $API_URL (e.g. unix:/run/api.sock)
  --metrics <ip:port>    the agent's local metrics listener (default 127.0.0.1:9464)
  --node <path>          Node >= $MIN_NODE_MAJOR to run the agent (default: node on PATH, else the API's runtime)
  --download-node        use the API's Node runtime even when the host has one
  --root <dir>           prefix every path with <dir> (a staging root; needs --no-systemd)
  --no-systemd           write no unit and run no systemctl (also --no-start); prints what it would run
  --uninstall            stop the agent, remove its kernel state, unit and files; revoke its credential
EOF
}

need_value() {
  if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi
}

TOKEN='' NAME='' UNDERLAY='' AGENT_API='' METRICS='' NODE_OPT='' ROOT=''
DOWNLOAD_NODE=0 SYSTEMD=1 UNINSTALL=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --token | --name | --underlay | --agent-api | --metrics | --node | --root)
      need_value "$@"
      case "$1" in
        --token) TOKEN=$2 ;;
        --name) NAME=$2 ;;
        --underlay) UNDERLAY=$2 ;;
        --agent-api) AGENT_API=$2 ;;
        --metrics) METRICS=$2 ;;
        --node) NODE_OPT=$2 ;;
        --root) ROOT=$2 ;;
      esac
      shift 2
      ;;
    --download-node) DOWNLOAD_NODE=1 && shift ;;
    --no-systemd | --no-start) SYSTEMD=0 && shift ;;
    --uninstall) UNINSTALL=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

# Values end up in a file the launcher sources and systemd reads: a strict character set keeps both safe.
is_ipv4() {
  local IFS=. o
  # shellcheck disable=SC2206
  local parts=($1)
  [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  for o in "${parts[@]}"; do ((10#$o <= 255)) || return 1; done
}
URL_RE='^(https?://[]A-Za-z0-9.:@%_[-]+(/[A-Za-z0-9._~/-]*)?|unix:/[A-Za-z0-9._/-]+)$'
is_api_url() { [[ $1 =~ $URL_RE ]]; }

[ -z "$TOKEN" ] || [[ $TOKEN =~ ^sls_j_[A-Za-z0-9_-]{43}$ ]] || die "--token is not a join token (sls_j_…)"
[ -z "$NAME" ] || [[ $NAME =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] ||
  die "--name must be 1-63 letters, digits, '.', '_' or '-'"
[ -z "$UNDERLAY" ] || is_ipv4 "$UNDERLAY" || die "--underlay $UNDERLAY is not an IPv4 address"
[ -z "$AGENT_API" ] || is_api_url "$AGENT_API" || die "--agent-api must be http(s)://host[:port][/path] or unix:/path"
if [ -n "$METRICS" ]; then
  if ! { [[ $METRICS =~ ^[0-9.]+:[0-9]{1,5}$ ]] && is_ipv4 "${METRICS%:*}" && ((${METRICS##*:} <= 65535)); }; then
    die "--metrics must be <ipv4>:<port>"
  fi
fi
[ -z "$NODE_OPT" ] || [[ $NODE_OPT =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "--node needs an absolute path"
if [ -n "$ROOT" ]; then
  if ! [[ $ROOT =~ ^/[A-Za-z0-9._/-]+$ ]] || [ "$ROOT" = / ]; then die "--root needs an absolute path other than /"; fi
  [ "$SYSTEMD" = 0 ] || die "--root installs into a staging directory: add --no-systemd"
  ROOT=${ROOT%/}
fi
is_api_url "$API_URL" || die "this script was not rendered by the API (API URL '$API_URL'); fetch it from <api>/install.sh"

[ "$(uname -s)" = Linux ] || die "the agent runs on Linux only (this is $(uname -s))"
[ "$(id -u)" = 0 ] || die "run as root: curl -fsSL $API_URL/install.sh | sudo bash -s -- --token <t>"
# The usual test for a running systemd (sd_booted): a container or chroot may have systemctl without it.
HAVE_SYSTEMD=0
[ -d "/run/systemd/system" ] && command -v systemctl >/dev/null && HAVE_SYSTEMD=1

ETC=$ROOT/etc/slipstream
CONFIG=$ETC/agent.env
STATE_DIR=$ROOT/var/lib/slipstream
STATE=$STATE_DIR/control.json
OPT=$ROOT/opt/slipstream
LAUNCHER=$OPT/bin/slipstream-agent
BUNDLE=$OPT/lib/slipstream-agent.mjs
RUN_DIR=$ROOT/run/slipstream
UNIT=$ROOT/etc/systemd/system/$UNIT_NAME

would() {
  say "--no-systemd: would run: $*"
}

# A zombie (exited, not yet reaped by its parent) counts as stopped.
alive() {
  local st
  st=$(sed -E 's/^[0-9]+ \(.*\) (.) .*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# The launcher records the agent's pid; without systemd that is how a running agent is found.
stop_unmanaged() {
  local pid
  pid=$(cat "$RUN_DIR/agent.pid" 2>/dev/null) || return 0
  [[ $pid =~ ^[0-9]+$ ]] && grep -qF "$BUNDLE" "/proc/$pid/cmdline" 2>/dev/null || return 0
  say "stopping the running agent (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

if [ "$UNINSTALL" = 1 ]; then
  if [ "$SYSTEMD" = 1 ] && [ "$HAVE_SYSTEMD" = 1 ]; then
    # ExecStopPost removes the kernel state as the unit stops.
    systemctl disable --now "$UNIT_NAME" 2>/dev/null || true
  else
    [ "$SYSTEMD" = 1 ] || would "systemctl disable --now $UNIT_NAME"
    stop_unmanaged
  fi
  if [ -x "$LAUNCHER" ] && [ -f "$CONFIG" ]; then
    say "removing the agent's kernel state"
    "$LAUNCHER" cleanup || say "kernel cleanup reported an error (continuing)"
    # The credential goes with the host: the API revokes it, so a copy left anywhere is refused.
    LEFT=0
    if [ -s "$STATE" ]; then
      if "$LAUNCHER" leave; then LEFT=1; else say "could not tell the API (continuing)"; fi
    fi
  fi
  rm -f "$UNIT"
  if [ "$SYSTEMD" = 1 ] && [ "$HAVE_SYSTEMD" = 1 ]; then systemctl daemon-reload; fi
  rm -rf "$ETC" "$STATE_DIR" "$OPT" "$RUN_DIR"
  if [ "${LEFT:-0}" = 1 ]; then
    say "uninstalled; the agent's credential is revoked in the API"
  else
    say "uninstalled (revoke the agent in the console so its credential is refused too)"
  fi
  exit 0
fi

# Existing settings carry over on an upgrade; flags given now win.
if [ -f "$CONFIG" ]; then
  # shellcheck source=/dev/null
  OLD=$(
    . "$CONFIG"
    printf '%s\n' "${SLIPSTREAM_JOIN_TOKEN:-}" "${SLIPSTREAM_AGENT_NAME:-}" "${SLIPSTREAM_UNDERLAY:-}" \
      "${SLIPSTREAM_API_URL:-}" "${SLIPSTREAM_METRICS:-}"
  )
  mapfile -t old <<<"$OLD"
  TOKEN=${TOKEN:-${old[0]:-}} NAME=${NAME:-${old[1]:-}} UNDERLAY=${UNDERLAY:-${old[2]:-}}
  AGENT_API=${AGENT_API:-${old[3]:-}} METRICS=${METRICS:-${old[4]:-}}
fi
[ "$SYSTEMD" = 0 ] || [ "$HAVE_SYSTEMD" = 1 ] ||
  die "systemd is not running here: re-run with --no-systemd and start /opt/slipstream/bin/slipstream-agent run yourself"
ENROLLED=0
[ -s "$STATE" ] && ENROLLED=1
[ -n "$TOKEN" ] || [ "$ENROLLED" = 1 ] || die "--token <join token> is required for a first install"
if [ -z "$NAME" ]; then
  NAME=$(hostname -s 2>/dev/null || hostname)
  [[ $NAME =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] || die "this host's name '$NAME' is not a valid agent name: pass --name"
fi
AGENT_API=${AGENT_API:-$API_URL}
METRICS=${METRICS:-127.0.0.1:9464}

for tool in curl sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
missing=()
command -v nft >/dev/null || missing+=(nftables)
command -v ip >/dev/null || missing+=(iproute2)
# tcpdump reads the kernel's flow log (NFLOG). iptables only queues held SYN-ACKs (bypass.handshakeHoldMs):
# installed when apt-get can, otherwise the host serves its VIPs without holds.
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v iptables >/dev/null || { command -v apt-get >/dev/null && missing+=(iptables); }
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "install ${missing[*]} (the agent runs nft, ip and tcpdump), then re-run"
  say "installing ${missing[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; } ||
    die "apt-get could not install ${missing[*]}"
fi
command -v iptables >/dev/null || say "no iptables: handshake holds are off on this host"

node_ok() {
  "$1" -e "process.exit(Number(process.versions.node.split('.')[0]) >= $MIN_NODE_MAJOR ? 0 : 1)" 2>/dev/null
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fetch() {
  curl -fsSL --retry 3 --connect-timeout 10 -o "$2" "$API_URL$1" || die "cannot download $API_URL$1"
}
verify() {
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || die "checksum mismatch for $3: got $got, expected $2; nothing was installed"
}

# Everything is downloaded and verified before a single file is written.
fetch /agent/slipstream-agent.mjs "$TMP/slipstream-agent.mjs"
verify "$TMP/slipstream-agent.mjs" "$BUNDLE_SHA256" "the agent bundle"
HOLD=0
if [ -z "$HOLD_SHA256" ]; then
  say "the API has no SYN-ACK hold helper: VIPs asking for a handshake hold are served without one"
elif [ "$(uname -m)" != "$NODE_ARCH" ]; then
  say "the SYN-ACK hold helper is built for $NODE_ARCH, not $(uname -m): handshake holds are off on this host"
elif ! curl -fsSL --retry 3 --connect-timeout 10 -o "$TMP/slipstream-synack-hold" "$API_URL/agent/slipstream-synack-hold"; then
  say "cannot download the SYN-ACK hold helper: handshake holds are off on this host"
else
  verify "$TMP/slipstream-synack-hold" "$HOLD_SHA256" "the SYN-ACK hold helper"
  chmod 755 "$TMP/slipstream-synack-hold"
  # Without arguments it prints its usage and exits 2: proof that it runs here.
  rc=0
  "$TMP/slipstream-synack-hold" 2>/dev/null || rc=$?
  if [ "$rc" = 2 ]; then
    HOLD=1
  else
    say "the SYN-ACK hold helper does not run on this host (exit $rc): handshake holds are off"
  fi
fi

NODE_BIN=''
if [ -n "$NODE_OPT" ]; then
  node_ok "$NODE_OPT" || die "--node $NODE_OPT is not Node >= $MIN_NODE_MAJOR"
  NODE_BIN=$NODE_OPT
elif [ "$DOWNLOAD_NODE" = 0 ] && command -v node >/dev/null && node_ok "$(command -v node)"; then
  NODE_BIN=$(readlink -f "$(command -v node)")
fi
if [ -z "$NODE_BIN" ]; then
  [ "$(uname -m)" = "$NODE_ARCH" ] ||
    die "no Node >= $MIN_NODE_MAJOR here and the API's runtime is for $NODE_ARCH, not $(uname -m): install Node >= $MIN_NODE_MAJOR, re-run"
  say "fetching Node $NODE_VERSION from the API"
  fetch /agent/node "$TMP/node"
  verify "$TMP/node" "$NODE_SHA256" "the Node runtime"
  chmod 755 "$TMP/node"
  node_ok "$TMP/node" || die "the API's Node runtime does not run on this host: install Node >= $MIN_NODE_MAJOR, re-run"
fi

umask 077
mkdir -p "$ETC" "$STATE_DIR" "$OPT/bin" "$OPT/lib" "$RUN_DIR"
chmod 700 "$ETC" "$STATE_DIR"
chmod 755 "$OPT" "$OPT/bin" "$OPT/lib"
if [ -z "$NODE_BIN" ]; then
  mkdir -p "$OPT/node/bin"
  install -m 755 "$TMP/node" "$OPT/node/bin/node.new"
  mv -f "$OPT/node/bin/node.new" "$OPT/node/bin/node"
  NODE_BIN=$OPT/node/bin/node
else
  rm -rf "$OPT/node"
fi
install -m 644 "$TMP/slipstream-agent.mjs" "$BUNDLE.new"
mv -f "$BUNDLE.new" "$BUNDLE"
# Next to the bundle, where the agent looks for it.
if [ "$HOLD" = 1 ]; then
  install -m 755 "$TMP/slipstream-synack-hold" "$OPT/lib/slipstream-synack-hold.new"
  mv -f "$OPT/lib/slipstream-synack-hold.new" "$OPT/lib/slipstream-synack-hold"
else
  rm -f "$OPT/lib/slipstream-synack-hold"
fi

{
  echo "# written by the Slipstream installer; re-run it to change these"
  echo "SLIPSTREAM_API_URL=$AGENT_API"
  echo "SLIPSTREAM_JOIN_TOKEN=$TOKEN"
  echo "SLIPSTREAM_AGENT_NAME=$NAME"
  echo "SLIPSTREAM_UNDERLAY=$UNDERLAY"
  echo "SLIPSTREAM_METRICS=$METRICS"
  echo "SLIPSTREAM_NODE=$NODE_BIN"
} >"$CONFIG.new"
chmod 600 "$CONFIG.new"
mv -f "$CONFIG.new" "$CONFIG"

cat >"$LAUNCHER.new" <<'LAUNCHER'
#!/usr/bin/env bash
# slipstream-agent launcher (written by install.sh): run | cleanup | stop-post
# run enrolls with the join token on the first start (the credential lands in control.json), then runs
# the agent; stop-post (systemd ExecStopPost) removes the kernel state unless an upgrade is restarting it.
set -euo pipefail
SELF=$(readlink -f "$0")
ROOT=${SELF%/opt/slipstream/bin/slipstream-agent}
BUNDLE=$ROOT/opt/slipstream/lib/slipstream-agent.mjs
STATE=$ROOT/var/lib/slipstream/control.json
RUN_DIR=$ROOT/run/slipstream
# shellcheck source=/dev/null
. "$ROOT/etc/slipstream/agent.env"
agent() { "$SLIPSTREAM_NODE" "$BUNDLE" "$@"; }
case "${1:-}" in
  run)
    mkdir -p "$RUN_DIR"
    if [ ! -s "$STATE" ]; then
      underlay=${SLIPSTREAM_UNDERLAY:-}
      if [ -z "$underlay" ]; then
        # The source address towards the outside, else the first global IPv4 address.
        underlay=$(ip -4 -o route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
        [ -n "$underlay" ] || underlay=$(ip -4 -o addr show scope global | awk '{print $4; exit}' | cut -d/ -f1)
      fi
      [ -n "$underlay" ] || { echo "slipstream-agent: no IPv4 address found: set SLIPSTREAM_UNDERLAY" >&2; exit 1; }
      agent enroll --api "$SLIPSTREAM_API_URL" --token "$SLIPSTREAM_JOIN_TOKEN" --name "$SLIPSTREAM_AGENT_NAME" \
        --underlay "$underlay" --state-file "$STATE"
      # The token has done its job: the credential in control.json is what the agent uses from now on.
      sed -i 's/^SLIPSTREAM_JOIN_TOKEN=.*/SLIPSTREAM_JOIN_TOKEN=/' "$ROOT/etc/slipstream/agent.env"
    fi
    echo $$ >"$RUN_DIR/agent.pid"
    exec "$SLIPSTREAM_NODE" "$BUNDLE" run --control "$STATE" --metrics "$SLIPSTREAM_METRICS"
    ;;
  cleanup) agent cleanup ;;
  leave) agent leave --state-file "$STATE" ;;
  stop-post)
    rm -f "$RUN_DIR/agent.pid"
    if [ -e "$RUN_DIR/keep-kernel" ]; then rm -f "$RUN_DIR/keep-kernel"; else agent cleanup; fi
    ;;
  *)
    echo "usage: slipstream-agent run|cleanup|leave|stop-post" >&2
    exit 2
    ;;
esac
LAUNCHER
chmod 755 "$LAUNCHER.new"
mv -f "$LAUNCHER.new" "$LAUNCHER"

UNIT_TEXT="[Unit]
Description=Slipstream agent $AGENT_VERSION (L4 load balancer with bypass)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=$LAUNCHER run
ExecStopPost=$LAUNCHER stop-post
Restart=on-failure
RestartSec=5
# 3: the control plane revoked this agent; restarting cannot help (re-install with a new token).
RestartPreventExitStatus=3

[Install]
WantedBy=multi-user.target"

if [ "$SYSTEMD" = 1 ]; then
  mkdir -p "$(dirname "$UNIT")"
  printf '%s\n' "$UNIT_TEXT" >"$UNIT"
  chmod 644 "$UNIT"
  systemctl daemon-reload
  if systemctl is-active --quiet "$UNIT_NAME"; then
    # An upgrade keeps the kernel state across the restart, so forwarding does not blink.
    touch "$RUN_DIR/keep-kernel"
    systemctl restart "$UNIT_NAME"
  else
    systemctl enable --now "$UNIT_NAME"
  fi
  say "agent $AGENT_VERSION installed and started ($UNIT_NAME; logs: journalctl -u $UNIT_NAME)"
else
  stop_unmanaged
  would "write $UNIT"
  would "systemctl daemon-reload && systemctl enable --now $UNIT_NAME"
  say "agent $AGENT_VERSION installed under ${ROOT:-/}; start it with: $LAUNCHER run"
fi
[ "$ENROLLED" = 0 ] || say "already enrolled: kept the credential in $STATE"
