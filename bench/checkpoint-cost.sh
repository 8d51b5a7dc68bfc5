#!/usr/bin/env bash
# The cost of judging one image checkpoint (issue 26 item 4, docs/benchmarks.md "Checkpoint cost"):
# the FD pipeline (sampling n images with the stated sampler and steps, MobileNet features,
# moments, FD; KID on the same samples) against each SIEM form, each measured ALONE: one study per
# metric, score memory off, so no metric is charged less because another evaluated the model first.
# The study settings are the CIFAR-10 study's (docs/studies/regenerate-cifar10.sh), so the numbers
# are the cost of that study's columns. The reference's own features (10 000 images, once per
# reference) are not part of any metric's cost and are printed separately by the study.
#
#   bash bench/checkpoint-cost.sh CHECKPOINT [METRICS]
#   e.g. bash bench/checkpoint-cost.sh docs/studies/cifar10-unet/run/ckpt-40000.safetensors
#
# Environment: SCOREPROBE_BIN (default target/release/scoreprobe), COST_OUT (default
# reports/checkpoint-cost), COST_N (2000), COST_STEPS (100). Prints a markdown table; each metric's
# study stays in COST_OUT/<metric>/ (rerunning skips finished metrics: the study caches them).
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt=${1:?usage: bench/checkpoint-cost.sh CHECKPOINT [METRICS]}
[ -f "$ckpt" ] || { echo "checkpoint-cost: no checkpoint at '$ckpt'" >&2; exit 2; }
metrics=${2:-fd,kid,siem_proj_window,siem_proj_origin_window,siem_quad_window,siem_proj,siem_proj_origin,siem_quad,siem_critic_window}
bin=${SCOREPROBE_BIN:-target/release/scoreprobe}
out=${COST_OUT:-reports/checkpoint-cost}
n=${COST_N:-2000} steps=${COST_STEPS:-100}
mkdir -p "$out"
models=$out/models.json
printf '[{"name": "checkpoint", "model": {"kind": "checkpoint", "path": "%s"}}]\n' "$(realpath "$ckpt")" > "$models"
echo "checkpoint-cost: $ckpt, n = $n, $steps ancestral steps, load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
for m in ${metrics//,/ }; do
  "$bin" study --models "$models" --reference cifar10-test --features mobilenet --metrics "$m" \
    --n "$n" --steps "$steps" --sampler ancestral --critic-steps 300 --critic-pool 2048 \
    --critic-holdout 1024 --critic-batch 128 --critic-directions 4 --score-memory 0 --seed 0 \
    --out "$out/$m" --quiet > "$out/$m.log"
done
python3 - "$out" "$metrics" <<'PY'
import json, sys
out, metrics = sys.argv[1], sys.argv[2].split(",")
rec = {m: json.load(open(f"{out}/{m}/cache/checkpoint.json"))["metrics"][m] for m in metrics}
fd = rec.get("fd")
print("| metric | NFE per sample | seconds | seconds vs FD's pipeline | NFE vs FD's |")
print("|---|---|---|---|---|")
for m, r in rec.items():
    nfe, sec = r.get("nfe"), r["seconds"]
    pct = lambda a, b: f"{100 * a / b:.1f} %" if a is not None and b else "–"
    print(f"| {m} | {nfe if nfe is not None else '–'} | {sec:.1f} | "
          f"{pct(sec, fd and fd['seconds'])} | {pct(nfe, fd and fd.get('nfe'))} |")
PY
