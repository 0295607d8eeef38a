#!/bin/sh
# The main job, end to end, on the VPA assistant's example configuration:
# create a store, make a valid change, see an invalid one refused, read the
# log, and restore the first revision as a new one.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
vpa="$here/.venv/bin/vpa-config"
[ -x "$vpa" ] || vpa=vpa-config
store=$(mktemp -d)/store
export VPA_CONFIG_ACTOR="${VPA_CONFIG_ACTOR:-Ada Lovelace <ada@example.org>}"

step() { printf '\n$ %s\n' "$*"; }

step vpa-config --store "$store" init --example
"$vpa" --store "$store" init --example

step vpa-config set assistant.yaml llm.temperature 0.4 -m "'calmer answers'"
"$vpa" --store "$store" set assistant.yaml llm.temperature 0.4 -m "calmer answers"

step vpa-config set assistant.yaml llm.temperature 9 -m "'too hot'"
if "$vpa" --store "$store" set assistant.yaml llm.temperature 9 -m "too hot"; then
    echo "an invalid change was accepted" >&2
    exit 1
else
    echo "(refused with exit code $?, as it should be: nothing was written)"
fi

step vpa-config log
"$vpa" --store "$store" log

step vpa-config restore HEAD~1 -m "'back to the example'"
"$vpa" --store "$store" restore HEAD~1 -m "back to the example"

step vpa-config get assistant.yaml llm.temperature
"$vpa" --store "$store" get assistant.yaml llm.temperature
printf '\nThe store is at %s; it is an ordinary git repository too.\n' "$store"
