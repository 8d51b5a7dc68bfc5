#!/usr/bin/env bash
# Regenerates the committed image study (docs/studies/fmnist-unet): trains the Fashion-MNIST U-Net
# (6000 steps, checkpoints every 400; ~39 min on a quiet 2-core machine, resumable with the same
# command), then measures 6 of its checkpoints (docs/studies/fmnist-unet/models.json). Needs the
# Debian package dataset-fashion-mnist (and ../shared/data or $SCOREPROBE_DATA for the MNIST CNN).
# Timings measured for the committed outputs: see docs/studies/README.md, section (b).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p scoreprobe-cli
bin=target/release/scoreprobe

$bin train --data fashion-mnist --model unet --unet-widths 16,32 --no-attention --batch 32 --lr 1e-3 \
  --steps 6000 --checkpoint-every 400 --seed 0 --out runs/fmnist-unet --quiet --resume

# n = 128 samples / trajectories of 100 EM steps per model (window 90..99 = the top 10%); the
# critics (SIEM's critic source and the KL-bound group) train on a pool of 1024 draws per fit
$bin study --models docs/studies/fmnist-unet/models.json --reference fashion-mnist --features mnist-cnn \
  --metrics fd,kid,siem_classifier,siem_classifier_window,siem_critic,siem_critic_window,l2,gradient,girsanov,marginal \
  --n 128 --steps 100 --seed 0 --bound-panels 4 --critic-steps 200 --critic-pool 1024 --critic-holdout 512 \
  --critic-batch 256 --critic-directions 4 --out reports/fmnist-unet --quiet

# the sample grid goes into the study folder (samples/<model>.png), where report.html shows it
mkdir -p reports/fmnist-unet/samples
$bin sample --checkpoint runs/fmnist-unet/ckpt-6000.safetensors --n 64 --steps 200 --seed 1 \
  --out reports/fmnist-unet/samples-6000.npy --png-grid reports/fmnist-unet/samples/ckpt-6000.png
cp reports/fmnist-unet/samples/ckpt-6000.png docs/figures/fmnist-unet-samples.png
$bin report reports/fmnist-unet

dst=docs/studies/fmnist-unet src=reports/fmnist-unet
mkdir -p "$dst/samples" && cp "$src/samples/ckpt-6000.png" "$dst/samples/"
cp "$src/metrics.csv" "$src/correlations.json" "$src/report.html" "$dst/"
sed 's/\.png)/.svg)/' "$src/report.md" > "$dst/report.md"
rm -rf "$dst/figures" && mkdir -p "$dst/figures" && cp "$src"/figures/*.svg "$dst/figures/"
