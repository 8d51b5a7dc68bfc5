#!/usr/bin/env bash
# scoreprobe-nn against PyTorch on the CPU: every network workload and its PyTorch peer, back to
# back, with 2 threads on both sides.
#
#   bench/compare-nn.sh [--quick] [WORKLOAD...]
#
# Workloads: mlp_train mlp_sample unet_train unet_sample critic_2d critic_784d (all by default).
# Prints one TSV row per workload on stdout,
#   workload <TAB> scoreprobe_s <TAB> peer <TAB> peer_s <TAB> speed_ratio <TAB> peer_kernel
# (seconds per training step / forward pass of the batch / critic fit step; speed_ratio =
# peer_s / scoreprobe_s, ≥ 1 means scoreprobe is faster), then one line with `uptime`'s load
# average. Progress and the benchmarks' own lines go to stderr.
#
# Environment: TORCH_PYTHON, a Python with torch installed (default: python3; PyTorch is a
# benchmark-only dependency, install it in a venv outside the repository); THREADS (default 2);
# BENCH_BIN, a prebuilt `nn_bench` example (default: built here with cargo, release profile).
set -euo pipefail

cd "$(dirname "$0")/.."
threads="${THREADS:-2}"
python="${TORCH_PYTHON:-python3}"
quick=()
workloads=()
for a in "$@"; do
    case "$a" in
        --quick) quick=(--quick) ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) workloads+=("$a") ;;
    esac
done
[ ${#workloads[@]} -gt 0 ] || workloads=(mlp_train mlp_sample unet_train unet_sample critic_2d critic_784d)

if ! "$python" -c "import torch" 2>/dev/null; then
    echo "compare-nn.sh: '$python' cannot import torch; set TORCH_PYTHON to a Python with PyTorch" >&2
    exit 2
fi
bin="${BENCH_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release -q -p scoreprobe-nn --example nn_bench >&2
    bin="target/release/examples/nn_bench"
fi

export RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" TORCH_THREADS="$threads"

# seconds per unit of one workload from a benchmark's RESULT line
result() { awk -F'\t' -v w="$2" '$1 == "RESULT" && $2 == w { print $3 }' <<<"$1"; }
# the peer's BLAS and CPU kernels (4th field of torch_bench.py's RESULT line)
kernel() { awk -F'\t' -v w="$2" '$1 == "RESULT" && $2 == w { print $4 }' <<<"$1"; }
# Every OPENBLAS_* setting but the thread count unset for the peer (see compare-metrics.sh).
peer_env=(env)
while IFS= read -r v; do
    [ "$v" = OPENBLAS_NUM_THREADS ] || peer_env+=(-u "$v")
done < <(compgen -e | grep '^OPENBLAS_' || true)

for w in "${workloads[@]}"; do
    echo "== $w" >&2
    ours_out=$("$bin" "${quick[@]}" --workload "$w")
    echo "$ours_out" | grep -v '^RESULT' >&2 || true
    peer_out=$("${peer_env[@]}" "$python" bench/torch_bench.py "${quick[@]}" --workload "$w")
    echo "$peer_out" | grep -v '^RESULT' >&2 || true
    ours=$(result "$ours_out" "$w")
    peer=$(result "$peer_out" "$w")
    if [ -z "$ours" ] || [ -z "$peer" ]; then
        echo "compare-nn.sh: no result for $w" >&2
        exit 1
    fi
    awk -v w="$w" -v a="$ours" -v b="$peer" -v k="$(kernel "$peer_out" "$w")" \
        'BEGIN { printf "%s\t%.6g\ttorch\t%.6g\t%.3f\t%s\n", w, a, b, b / a, k }'
done
echo "load average: $(uptime | sed 's/.*load average: //')"
