#!/usr/bin/env bash
# The main job end to end on embedded defaults: the sample directory (examples/directory.ldif) →
# the Slack connector → a slack-sim started here on loopback. Prints the channel summary, the channels
# view and what Slack now holds.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p provisioner -p connector-slack -p slack-sim
rm -rf target/demo && mkdir -p target/demo
export SLACK_TOKEN="xoxp-demo-$RANDOM$RANDOM"
./target/debug/slack-sim --listen 127.0.0.1:0 --token "$SLACK_TOKEN" > target/demo/sim.out &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening target/demo/sim.out 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' target/demo/sim.out)
sed "s#http://127.0.0.1:8931#$URL#" examples/provisioner.toml > examples/.demo.toml
trap 'kill $SIM 2>/dev/null || true; rm -f examples/.demo.toml' EXIT
echo "slack-sim at $URL"
./target/debug/provisioner --config examples/.demo.toml test-connection
./target/debug/provisioner --config examples/.demo.toml sync --once
echo "--- second cycle (nothing changed: no target requests)"
./target/debug/provisioner --config examples/.demo.toml sync --once
./target/debug/provisioner --config examples/.demo.toml channels
echo "--- Slack now holds:"
curl -s "$URL/_sim/users" | python3 -c '
import json, sys
for u in json.load(sys.stdin)["users"]:
    print("  %-18s active=%-5s %s" % (u["userName"], u["active"], u["title"]))'
curl -s "$URL/_sim/groups" | python3 -c '
import json, sys
for g in json.load(sys.stdin)["groups"]:
    print("  group %-12s %d members" % (g["displayName"], len(g["members"])))'
echo "audit log: target/demo/audit.jsonl"
