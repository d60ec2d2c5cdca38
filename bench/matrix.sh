#!/usr/bin/env sh
# The runs behind docs/BENCHMARKS.md: every figure's command, REPEAT times each, waiting for a quiet
# machine (see quiet below, up to 10 minutes) before each run. Each run's JSON line is
# appended to OUT and its full report to OUT's .log; `npx tsx bench/summarize.ts OUT` prints the medians
# and ranges.
#   sh bench/matrix.sh [OUT]      (REPEAT=3 MAX_LOAD=1.0 MIN_IDLE=90 by default)
set -u
cd "$(dirname "$0")/.."
OUT=${1:-bench-results.jsonl}
LOG=${OUT%.jsonl}.log
REPEAT=${REPEAT:-3}
MAX_LOAD=${MAX_LOAD:-1.0}
MIN_IDLE=${MIN_IDLE:-90}

# Quiet = the CPUs were at least MIN_IDLE% idle over 5 s (the load average lags: it still counts the
# previous run for a minute or two), and the 1-minute load is below MAX_LOAD or the wait passed 3 minutes.
idle_pct() {
  a=$(head -1 /proc/stat); sleep 5; b=$(head -1 /proc/stat)
  echo "$a
$b" | awk 'NR == 1 { for (i = 2; i <= NF; i++) t1 += $i; i1 = $5 + $6 } NR == 2 { for (i = 2; i <= NF; i++) t2 += $i; i2 = $5 + $6 } END { printf "%d", 100 * (i2 - i1) / (t2 - t1) }'
}

quiet() {
  i=0
  while [ $i -lt 120 ]; do
    idle=$(idle_pct)
    load=$(cut -d' ' -f1 /proc/loadavg)
    if [ "$idle" -ge "$MIN_IDLE" ] && { awk "BEGIN { exit !($load < $MAX_LOAD) }" || [ $i -ge 36 ]; }; then return 0; fi
    i=$((i + 1))
  done
  echo "matrix: machine still busy (idle $idle%, load $load) after 10 minutes; measuring anyway" >&2
}

run() {
  n=1
  while [ $n -le "$REPEAT" ]; do
    quiet
    echo "== $* (run $n/$REPEAT, idle $idle%, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    npx tsx bench/run.ts "$@" > "$LOG.tmp" 2>&1
    cat "$LOG.tmp" >> "$LOG"
    tail -n 1 "$LOG.tmp" >> "$OUT"
    rm -f "$LOG.tmp"
    n=$((n + 1))
  done
}

run create --connections 32 --duration 10
run create --rate 2500 --connections 64 --duration 20
run track --sos 100 --rate 0 --connections 64 --duration 10
run track --sos 100 --rate 3000 --connections 64 --duration 20
run track --sos 100 --rate 10000 --connections 256 --duration 10
run fanout --sockets 10000 --client-procs 2 --rate 2 --duration 30
run connect --sockets 19000 --per-process 4750 --idle 15
run connect --sockets 19000 --per-process 9500 --idle 15 --receivers lean
run limits
