#!/usr/bin/env bash
# scoreprobe-metrics against its Python peers (numpy, POT, torch-fidelity): every metric workload
# and its peer, back to back, on the same input files, with 2 threads on both sides.
#
#   bench/compare-metrics.sh [--quick] [WORKLOAD...]
#
# Workloads: moments fd-trace kid w2-exact-1000 w2-exact-2000 sinkhorn-1000 sinkhorn-2000 (all by
# default); also fd-trace-sqrtm (against scipy's sqrtm, slow) on request. Prints one TSV row per
# workload on stdout,
#   workload <TAB> scoreprobe_s <TAB> peer <TAB> peer_s <TAB> speed_ratio <TAB> peer_kernel
# (wall seconds, median of REPS runs; speed_ratio = peer_s / scoreprobe_s, >= 1 means scoreprobe is
# faster; peer_kernel the BLAS library and kernel the peer ran, from threadpoolctl), then one line
# with `uptime`'s load average. Peers run with every OPENBLAS_* variable but the thread count
# unset: a machine that pins OPENBLAS_CORETYPE=Haswell would otherwise hand numpy, POT and
# torch-fidelity AVX2 kernels on an AVX-512 processor. The benchmarks' own lines (values, iteration
# counts, CPU seconds) go to stderr. --quick: one run each.
#
# Environment: PYTHON, a Python with numpy, scipy and POT (default: python3); TORCH_PYTHON, one
# with torch and torch-fidelity for the kid row (default: $PYTHON; without torch-fidelity the peer
# is the same computation in numpy, named numpy-kid); THREADS (default 2); REPS (default 3);
# DATA, a folder for the inputs (default: a temporary one, removed at exit; an existing folder
# written by `metrics_bench.py --make-data` is reused); BENCH_BIN, a prebuilt `metrics_bench` example
# (default: built here with cargo, release profile).
set -euo pipefail

cd "$(dirname "$0")/.."
threads="${THREADS:-2}"
python="${PYTHON:-python3}"
torch_python="${TORCH_PYTHON:-$python}"
reps="${REPS:-3}"
workloads=()
for a in "$@"; do
    case "$a" in
        --quick) reps=1 ;;
        -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
        *) workloads+=("$a") ;;
    esac
done
[ ${#workloads[@]} -gt 0 ] || workloads=(moments fd-trace kid w2-exact-1000 w2-exact-2000 sinkhorn-1000 sinkhorn-2000)

if ! "$python" -c "import numpy, scipy, ot" 2>/dev/null; then
    echo "compare-metrics.sh: '$python' cannot import numpy, scipy and ot (POT); set PYTHON" >&2
    exit 2
fi
bin="${BENCH_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release -q -p scoreprobe-metrics --example metrics_bench >&2
    bin="target/release/examples/metrics_bench"
fi

export RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
    OPENBLAS_NUM_THREADS="$threads" TORCH_THREADS="$threads"

data="${DATA:-}"
if [ -z "$data" ]; then
    data=$(mktemp -d)
    trap 'rm -rf "$data"' EXIT
fi
if [ ! -f "$data/feat_a.npy" ]; then
    echo "== writing inputs to $data" >&2
    mkdir -p "$data"
    "$python" bench/metrics_bench.py --make-data "$data"
fi

# `env -u` for each OPENBLAS_* setting except the thread count: the peers get the kernels OpenBLAS
# picks for this processor.
peer_env=(env)
while IFS= read -r v; do
    [ "$v" = OPENBLAS_NUM_THREADS ] || peer_env+=(-u "$v")
done < <(compgen -e | grep '^OPENBLAS_' || true)

for w in "${workloads[@]}"; do
    echo "== $w" >&2
    ours_out=$("$bin" --reps "$reps" --data "$data" "$w" 2>/dev/null)
    echo "scoreprobe: $ours_out" >&2
    py="$python"
    [ "$w" = kid ] && py="$torch_python"
    peer_out=$("${peer_env[@]}" "$py" bench/metrics_bench.py --reps "$reps" --data "$data" "$w")
    echo "peer:       $peer_out" >&2
    ours=$(awk -F'\t' -v w="$w" '$1 == w { print $2 }' <<<"$ours_out")
    peer=$(awk -F'\t' -v w="$w" '$1 == w { print $2 }' <<<"$peer_out")
    peer_s=$(awk -F'\t' -v w="$w" '$1 == w { print $3 }' <<<"$peer_out")
    kernel=$(awk -F'\t' -v w="$w" '$1 == w { print $5 }' <<<"$peer_out")
    if [ -z "$ours" ] || [ -z "$peer_s" ]; then
        echo "compare-metrics.sh: no result for $w" >&2
        exit 1
    fi
    awk -v w="$w" -v a="$ours" -v p="$peer" -v b="$peer_s" -v k="${kernel:-unknown}" \
        'BEGIN { printf "%s\t%.6g\t%s\t%.6g\t%.3f\t%s\n", w, a, p, b, b / a, k }'
done
echo "load average: $(uptime | sed 's/.*load average: //')"
