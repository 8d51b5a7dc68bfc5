#!/usr/bin/env bash
# Every scoreprobe benchmark against its peer, back to back on this machine: the networks against
# PyTorch (bench/compare-nn.sh) and the statistics against numpy, POT and torch-fidelity
# (bench/compare-metrics.sh), same shapes and the same number of threads on both sides.
#
#   bench/compare.sh [--quick]
#
# Prints one table (TSV) on stdout,
#   workload <TAB> scoreprobe_s <TAB> peer <TAB> peer_s <TAB> speed_ratio <TAB> peer_kernel
# where speed_ratio = peer_s / scoreprobe_s (>= 1: scoreprobe is faster) and peer_kernel is the BLAS
# library and CPU kernels the peer ran (peers run with OPENBLAS_* unset but for the thread count,
# so they get their best kernels on this processor), with the load average
# before and after each half. Run it on a quiet machine: the ratios are only as good as the load
# column says.
#
# Environment: TORCH_PYTHON, a Python with torch and torch-fidelity (a benchmark-only dependency:
# install it in a venv outside the repository); PYTHON, one with numpy, scipy and POT (default:
# TORCH_PYTHON); THREADS (default 2); REPS (metrics, default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
export TORCH_PYTHON="${TORCH_PYTHON:-python3}"
export PYTHON="${PYTHON:-$TORCH_PYTHON}"
load() { echo "# load average: $(uptime | sed 's/.*load average: //')"; }

cargo build --release -q -p scoreprobe-nn --example nn_bench -p scoreprobe-metrics --example metrics_bench >&2
printf 'workload\tscoreprobe_s\tpeer\tpeer_s\tspeed_ratio\tpeer_kernel\n'
load
BENCH_BIN=target/release/examples/nn_bench bench/compare-nn.sh "$@" | grep -v '^load average'
load
BENCH_BIN=target/release/examples/metrics_bench bench/compare-metrics.sh "$@" | grep -v '^load average'
load
