#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 20), one after the other, single-threaded, at low
# priority: `fuzz/run.sh 1800` is the long run docs/reliability.md records, `fuzz/run.sh 20` the CI
# smoke run. Needs a nightly toolchain and cargo-fuzz; exits 0 with a message where they are
# missing. Extra arguments go to libFuzzer (e.g. -rss_limit_mb=1024). A crash stops the script with
# the target's non-zero status; the input lands in fuzz/artifacts/<target>/. libFuzzer runs in-process:
# one process, one thread per target (no -jobs, whose workers would log to files instead).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-20}
shift || true
if [ "$secs" = 0 ]; then
  echo "fuzz/run.sh: 0 seconds asked; skipping the fuzz run" >&2
  exit 0
fi
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz/run.sh: no nightly toolchain; skipping the fuzz run" >&2
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: cargo-fuzz missing; install it with 'cargo install cargo-fuzz'" >&2
  exit 0
fi
# safe Rust: panics, not memory errors, are what the targets hunt; no sanitizer keeps builds fast
flags=(-O -a -s none --codegen-units 16)
targets=$(cargo +nightly fuzz list)
nice -n 19 cargo +nightly fuzz build "${flags[@]}"
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "== fuzz target $t: ${secs} s"
  nice -n 19 cargo +nightly fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "$@"
done
