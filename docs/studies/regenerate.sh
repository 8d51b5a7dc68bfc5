#!/usr/bin/env bash
# Regenerates the committed 2-D reference studies (docs/studies/ring8, docs/studies/gaussian2d).
# Full outputs (cache, SVG figures) go to reports/; the small files are copied here.
# Measured on the 2-core development machine: see each report.md for its settings.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p scoreprobe-cli
bin=target/release/scoreprobe

# (a1) ring8: an MLP checkpoint sweep + synthetic gradient/solenoidal perturbations; W2/FD/KID references
$bin train --data ring8 --model mlp --steps 3000 --batch 512 --checkpoint-every 300 --seed 0 --out runs/ring8-ref --quiet --resume
# (the full-window classifier SIEM and the critic SIEMs are left out to keep this under an hour on
# 2 cores; add them with --metrics ...,siem_classifier,siem_critic,siem_critic_window)
$bin study --run runs/ring8-ref --models docs/studies/ring8/extra-models.json --reference ring8 \
  --metrics w2,fd,kid,siem,siem_window,siem_mc,siem_mc_window,siem_classifier_window,l2,gradient,girsanov,marginal \
  --n 1000 --steps 1000 --seed 0 --out reports/ring8-ref --quiet

# (a1') the same checkpoints with the classifier-source SIEM on the full window as well (it trains a
# classifier per model: ~1 min each); the oracle metrics are reused from (a1)'s cache
mkdir -p reports/ring8-clf && cp -r reports/ring8-ref/cache reports/ring8-clf/
$bin study --run runs/ring8-ref --reference ring8 \
  --metrics w2,fd,kid,siem,siem_window,siem_classifier,siem_classifier_window \
  --n 1000 --steps 1000 --seed 0 --out reports/ring8-clf --quiet

# (a2) a 2-D Gaussian with affine, quadratic-gradient and solenoidal errors: exact KL and exact W2 available
$bin study --models docs/studies/gaussian2d/models.json --reference docs/studies/gaussian2d/spec.json \
  --metrics w2,fd,kid,exact_kl,siem,siem_window,siem_mc,siem_mc_window,l2,gradient,girsanov,marginal \
  --n 1000 --steps 1000 --seed 0 --out reports/gaussian2d --quiet

mkdir -p docs/studies/ring8-classifier
for s in ring8:ring8-ref ring8-classifier:ring8-clf gaussian2d:gaussian2d; do
  dst=docs/studies/${s%%:*}; src=reports/${s##*:}
  cp "$src/metrics.csv" "$src/correlations.json" "$src/report.html" "$dst/"
  # SVG figures only (a fifth of the PNGs' size)
  sed 's/\.png)/.svg)/' "$src/report.md" > "$dst/report.md"
  rm -rf "$dst/figures" && mkdir -p "$dst/figures" && cp "$src"/figures/*.svg "$dst/figures/"
done
