#!/usr/bin/env bash
# A migration that outlasts its access tokens many times over: `spmt emulator` issues 30-second
# tokens and answers every request 250 ms late; spmt signs in by password (refresh tokens) and
# migrates FILES small files. Prints the run's length, its outcome counts, how many times the
# token was renewed, and whether any token reached the log. Not part of the test run (it takes
# minutes by design).
#   bash bench/long_signin.sh [FILES]      (default 4000; uses target/release/spmt)
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-4000}
bin=${SPMT_BIN:-target/release/spmt}
[ -x "$bin" ] || cargo build --release --bin spmt
dir=$(mktemp -d)
trap 'kill $emu 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" emulator --listen 127.0.0.1:0 --root "$dir/site" --token-lifetime 30 --latency-ms 250 \
  --max-concurrent-jobs 1 > "$dir/emulator.out" 2>&1 &
emu=$!
for _ in $(seq 50); do grep -q "listening on" "$dir/emulator.out" 2>/dev/null && break; sleep 0.1; done
base=$(head -1 "$dir/emulator.out" | awk '{print $NF}')
mkdir -p "$dir/src"
for i in $(seq "$files"); do echo "file $i" > "$dir/src/f$i.txt"; done
start=$(date +%s)
SPMT_PASSWORD=local-admin-password SPMT_CONFIG_DIR="$dir/config" "$bin" migrate --json \
  --file-share-source "$dir/src" --target-site-url "$base/sites/bench" --target-list Documents \
  --working-folder "$dir/work" --auth password --username admin@local.onmicrosoft.com \
  --client-id 8d1f6a53-2b7c-4e0a-9c3d-5e6f7a8b9c0d > "$dir/summary.json" 2> "$dir/stderr.txt" || true
end=$(date +%s)
renewals=$(grep -c "sign-in renewed" "$dir/work/spmt.log" || true)
leaked=$(cat "$dir/work/spmt.log" "$dir/stderr.txt" "$dir/summary.json" | { grep -c "eyJ" || true; })
python3 - "$dir/summary.json" "$((end - start))" "$renewals" "$leaked" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
i = s["items"]
print(f"run: {sys.argv[2]} s with 30 s tokens; migrated {i['migrated']}, failed {i['failed']}, skipped {i['skipped']}; "
      f"token renewals logged: {sys.argv[3]}; tokens in log/output: {sys.argv[4]}")
PY
