#!/usr/bin/env bash
# Peak resident memory per db-benchmark groupby question.
#
#   bench/dbbench_memory.sh inprocess DATA.csv [QUESTIONS]   # one process: 2 nodes + the client
#   bench/dbbench_memory.sh nodes DATA.csv [QUESTIONS]       # two `mesh join --threads 1` processes + dbbench --peer
#
# Samples VmRSS from /proc every 20 ms beside `mesh dbbench groupby --runs 2`
# (timestamped lines) and prints each line with the peak RSS seen while it
# ran. BIN overrides the mesh binary (default bin/mesh); EXTRA adds flags to
# `mesh join` (e.g. EXTRA="--memory-limit 1e9").
set -euo pipefail
mode=${1:?inprocess or nodes}
data=${2:?DATA.csv}
qs=${3:-q1,q2,q3,q4,q5,q7,q10}
BIN=${BIN:-bin/mesh}
EXTRA=${EXTRA:-}
d=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$d"; }
trap cleanup EXIT
stamp() { while IFS= read -r l; do echo "$(date +%s.%N) $l"; done; }
sample() { while true; do line="$(date +%s.%N)"; for p in "$@"; do line="$line $(awk '/VmRSS/{print $2}' /proc/$p/status 2>/dev/null || echo 0)"; done; echo "$line"; sleep 0.02; done; }
echo "$(date +%s.%N) start" > "$d/events"
case "$mode" in
inprocess)
  "$BIN" dbbench groupby --data "$data" --questions "$qs" --runs 2 2>&1 | stamp >> "$d/events" &
  runner=$!
  sleep 0.3
  p=$(pgrep -n -f "dbbench groupby --data $data")
  sample "$p" > "$d/rss" & pids+=($!)
  wait "$runner"
  ;;
nodes)
  "$BIN" join --data-dir "$d/n1" --listen /ip4/127.0.0.1/tcp/0 --dashboard '' --threads 1 $EXTRA >"$d/n1.log" 2>&1 & pids+=($!)
  for _ in $(seq 100); do [ -s "$d/n1/addr" ] && break; sleep 0.1; done
  addr=$(grep -o "/ip4/127.0.0.1/tcp/[0-9]*/p2p/[A-Za-z0-9]*" "$d/n1.log" | head -1)
  "$BIN" join "$addr" --data-dir "$d/n2" --listen /ip4/127.0.0.1/tcp/0 --dashboard '' --threads 1 --secret-file "$d/n1/secret" $EXTRA >"$d/n2.log" 2>&1 & pids+=($!)
  sleep 3
  sample "${pids[0]}" "${pids[1]}" > "$d/rss" & pids+=($!)
  "$BIN" dbbench groupby --data "$data" --questions "$qs" --runs 2 --peer "$addr" --secret-file "$d/n1/secret" 2>&1 | stamp >> "$d/events"
  ;;
*) echo "mode: inprocess or nodes" >&2; exit 2 ;;
esac
python3 - "$d" <<'PY'
import sys
d = sys.argv[1]
rss = []
for l in open(d + "/rss"):
    p = l.split()
    if len(p) >= 2:
        rss.append((float(p[0]), [int(x) for x in p[1:]]))
ev = [l.split(None, 1) for l in open(d + "/events")]
prev = float(ev[0][0])
for t, txt in ev[1:]:
    t = float(t)
    seg = [r for r in rss if prev <= r[0] <= t]
    if seg:
        peaks = " ".join(f"{max(r[1][i] for r in seg)/1e6:.2f}" for i in range(len(seg[0][1])))
        print(f"{txt.strip()[:45]:45s} peak RSS GB: {peaks}")
    prev = t
PY
