#!/usr/bin/env bash
# Times the offline CI commands on the inputs the issue names:
#   accord compat   two 1,000-field Avro schemas (compatible, and with three breaks)
#   accord diff     a git repository of 200 schema files: 12 changed (--base HEAD) and
#                   all 200 changed (--base HEAD~1)
# Builds --release first. Uses hyperfine when installed, else a loop of 20 runs.
# Usage: cli/bench/offline.sh [WORKDIR]   (default: a fresh temporary directory)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"

(cd "$repo_root" && cargo build --release -p accord --quiet)
accord="$repo_root/target/release/accord"

python3 "$here/gen.py" avro "$work/avro"
rm -rf "$work/repo"
python3 "$here/gen.py" repo "$work/repo"

# Sanity: the verdicts the inputs were made for.
set +e
"$accord" compat "$work/avro/old.avsc" "$work/avro/new_ok.avsc" >/dev/null; ok=$?
"$accord" compat "$work/avro/old.avsc" "$work/avro/new_bad.avsc" >/dev/null; bad=$?
(cd "$work/repo" && "$accord" diff --base HEAD >/dev/null); diff=$?
checked=$(cd "$work/repo" && "$accord" diff --base HEAD~1 | tail -1)
set -e
echo "exit codes: compat ok=$ok (want 0), compat bad=$bad (want 1), diff=$diff (want 1)"
echo "diff --base HEAD~1: $checked"

compat_ok="$accord compat --level FULL_TRANSITIVE $work/avro/old.avsc $work/avro/new_ok.avsc"
compat_bad="$accord compat --level FULL_TRANSITIVE $work/avro/old.avsc $work/avro/new_bad.avsc"
diff_cmd="cd $work/repo && $accord diff --base HEAD"
diff_all="cd $work/repo && $accord diff --base HEAD~1"

if command -v hyperfine >/dev/null; then
    hyperfine --warmup 3 --runs 30 -N -i "$compat_ok" "$compat_bad"
    hyperfine --warmup 3 --runs 30 -i --shell=bash "$diff_cmd" "$diff_all"
else
    for cmd in "$compat_ok" "$compat_bad" "$diff_cmd" "$diff_all"; do
        total=0
        for _ in $(seq 20); do
            start=$(date +%s%N)
            bash -c "$cmd" >/dev/null || true
            total=$((total + $(date +%s%N) - start))
        done
        echo "$(( total / 20 / 1000000 )) ms mean over 20 runs: $cmd"
    done
fi
