#!/usr/bin/env bash
# The seeds' own setting: a CIFAR-10 DDPM checkpoint sweep measured with FD/KID (MobileNet
# features), every SIEM form and the Hodge split. Trains (or resumes) the U-Net, picks 8
# checkpoints spread log-uniformly over training, measures the training monitor on the run's
# checkpoints (`scoreprobe monitor`: its curve goes into the report), draws a sample grid per
# checkpoint, runs the study per replicate seed (two passes: the cheap metrics of every seed first)
# and copies the small outputs to
# docs/studies/cifar10-unet/.
#
# Every stage survives being killed: training resumes from its last checkpoint (bit-identical to
# an uninterrupted run), each study caches every (model, metric) as it finishes, finished sample
# grids are skipped. Rerun the same command to continue.
#
#   bash docs/studies/regenerate-cifar10.sh               # the full study (CIFAR_PROFILE=full)
#   CIFAR_PROFILE=tiny bash docs/studies/regenerate-cifar10.sh   # the CI smoke run (minutes)
#   bash docs/studies/regenerate-cifar10.sh archive       # save the run's state into the repository
#
# Runs span several working days, and a working day may end on a fresh machine where the git-ignored
# run folder is gone. `archive` keeps the run in `$CIFAR_DOCS/run/` (committed): the latest
# checkpoint in full (weights, EMA, AdamW moments: training resumes from it bit-identically) and
# sampling-only copies (`scoreprobe checkpoint slim`, a quarter of the size) of the checkpoints the
# study will pick. Every run of the script first restores that archive into an empty run folder.
#
# Environment: SCOREPROBE_BIN (a built binary; default: build the release one), CIFAR_RUN,
# CIFAR_OUT, CIFAR_DOCS (the run, report and docs folders), SCOREPROBE_DATA (the shared data).
# On a GPU machine: build with `cargo build --release -p scoreprobe-cli --features cuda` and set
# SCOREPROBE_BIN to it; the commands are the same.
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=${CIFAR_PROFILE:-full}
case "$profile" in
  full)
    # 441 k parameters (widths 32/64, attention at 16×16), batch 32, lr 5e-4 constant after a
    # 100-step warm-up, EMA 0.999: ~40 000 steps fit the 4–6 h budget of a 2-core machine.
    train=(--unet-widths 32,64 --batch 32 --lr 5e-4 --steps 40000 --checkpoint-every 250)
    limit=()
    pick=8
    # n = 2000 samples per checkpoint and replicate, 100 ancestral steps (10 % window: 90..99);
    # the projection-form SIEMs draw 2000 forward-noised images per window time.
    study=(--n 2000 --steps 100 --sampler ancestral --critic-steps 300 --critic-pool 2048
           --critic-holdout 1024 --critic-batch 128 --critic-directions 4 --bound-panels 4)
    seeds=(0 1 2)
    # the impossibility family on the last checkpoint: s_λ = (I + λA)s_θ, A pairing neighbouring
    # pixels (λ = 0 is the last checkpoint itself, measured already)
    family=(--pair-rotation 1,3,10)
    grid_steps=100
    # the checkpoints `--pick 8` chooses among every 250th step up to 40 000 (nearest in ln step
    # to 8 log-uniform targets), which the archive keeps; the 7th target, 19 372.5, lies within
    # 2e-4 in ln of the midpoint of 19 250 and 19 500, so both are kept
    keep=(250 500 1000 2250 4500 9500 19250 19500 40000)
    # the training monitor on every 1000th step's checkpoint and the study's 8 (docs/monitor.md):
    # 64 draws at each of the 100 high-noise times, the quadratic family (d = 3072)
    monitor=(--every 1000 --pick 8 --n 64)
    ;;
  tiny)
    # CI: 64 images, a U-Net of widths 8/16 without attention, 2 checkpoints, 32 samples.
    train=(--unet-widths 8,16 --unet-groups 4 --no-attention --unet-time-dim 16 --batch 8 --lr 1e-3
           --steps 8 --checkpoint-every 4)
    limit=(--limit 64)
    pick=2
    study=(--n 32 --steps 10 --sampler ancestral --critic-steps 5 --critic-pool 64 --critic-holdout 32
           --critic-batch 16 --critic-directions 1 --bound-panels 4)
    seeds=(0 1)
    family=(--pair-rotation 0,3)
    grid_steps=10
    keep=(4 8)
    monitor=(--pick 2 --n 8 --window 990..999)
    ;;
  *) echo "CIFAR_PROFILE must be full or tiny, got '$profile'" >&2; exit 2 ;;
esac

run=${CIFAR_RUN:-runs/cifar10-unet}
[ "$profile" = full ] || run=${CIFAR_RUN:-runs/cifar10-unet-$profile}
out=${CIFAR_OUT:-reports/cifar10-unet-$profile}
docs=${CIFAR_DOCS:-docs/studies/cifar10-unet}
[ "$profile" = full ] || docs=${CIFAR_DOCS:-$out/docs}
if [ -n "${SCOREPROBE_BIN:-}" ]; then
  bin=$SCOREPROBE_BIN
else
  cargo build --release -p scoreprobe-cli
  bin=target/release/scoreprobe
fi
log() { echo "[regenerate-cifar10 $(date +%H:%M:%S)] $*" >&2; }

stage=${1:-all}
case "$stage" in all|archive) ;; *) echo "usage: $0 [archive]  (got '$stage')" >&2; exit 2 ;; esac
archive=$docs/run
last_step() { ls "$1" 2>/dev/null | sed -n 's/^ckpt-\([0-9]*\)\.safetensors$/\1/p' | sort -n | tail -1; }

# The latest checkpoint in full, sampling-only copies of the kept steps below it.
archive_run() {
  local last; last=$(last_step "$run")
  [ -n "$last" ] || { log "archive: no checkpoint in $run"; return; }
  # the monitor first: the archive keeps only some checkpoints, the monitor's records of all
  "$bin" monitor --run "$run" "${monitor[@]}" > /dev/null
  mkdir -p "$archive"
  for f in monitor.jsonl monitor-state.json; do
    [ ! -f "$run/$f" ] || { cp "$run/$f" "$archive/$f.tmp" && mv "$archive/$f.tmp" "$archive/$f"; }
  done
  # kill-safe order: the new full checkpoint first (copied whole, then renamed), then the
  # sampling-only copies (written atomically), and only then the files no longer wanted, so that
  # a kill at any moment leaves a full checkpoint to resume from
  local f
  for f in "ckpt-$last.safetensors" "ckpt-$last.json"; do
    cp "$run/$f" "$archive/.$f.tmp" && mv "$archive/.$f.tmp" "$archive/$f"
  done
  local slim=() wanted=("ckpt-$last")
  for s in "${keep[@]}"; do
    [ "$s" -lt "$last" ] && [ -f "$run/ckpt-$s.safetensors" ] && slim+=("$run/ckpt-$s.safetensors") && wanted+=("ckpt-$s")
  done
  [ ${#slim[@]} -eq 0 ] || "$bin" checkpoint slim "${slim[@]}" --out "$archive" > /dev/null
  for f in "$archive"/ckpt-*; do
    [[ " ${wanted[*]} " == *" $(basename "${f%.*}") "* ]] || rm -f "$f"
  done
  # the studies' per-model caches (small JSON): a study cut short resumes on another machine
  for seed in "${seeds[@]}"; do
    [ -d "$out/seed-$seed/cache" ] || continue
    mkdir -p "$archive/cache/seed-$seed"
    for f in "$out/seed-$seed"/cache/*.json; do
      [ -f "$f" ] || continue
      cp "$f" "$archive/cache/seed-$seed/.tmp" && mv "$archive/cache/seed-$seed/.tmp" "$archive/cache/seed-$seed/${f##*/}"
    done
  done
  log "archive: step $last in full, ${#slim[@]} sampling-only checkpoints, in $archive ($(du -sh "$archive" | cut -f1))"
}

if [ "$stage" = archive ]; then archive_run; exit 0; fi

if [ -z "$(last_step "$run")" ] && [ -n "$(last_step "$archive")" ]; then
  log "0/4 restoring the archived run $archive (step $(last_step "$archive")) into $run"
  # into a side folder renamed into place: a kill mid-copy never leaves a torn checkpoint in $run
  rm -rf "$run.restoring" && mkdir -p "$run.restoring" && cp "$archive"/ckpt-* "$run.restoring/"
  for f in monitor.jsonl monitor-state.json; do [ ! -f "$archive/$f" ] || cp "$archive/$f" "$run.restoring/"; done
  # a run folder without checkpoints (a log, a killed first attempt) is set aside, not merged
  if [ -d "$run" ]; then aside="$run.set-aside-$(date +%s)"; mv "$run" "$aside"; log "0/4 set aside: $aside"; fi
  mkdir -p "$(dirname "$run")" && mv "$run.restoring" "$run"
fi
for seed in "${seeds[@]}"; do
  if [ ! -d "$out/seed-$seed/cache" ] && [ -d "$archive/cache/seed-$seed" ]; then
    log "0/4 restoring the archived study cache of seed $seed"
    rm -rf "$out/seed-$seed/.cache-restoring" && mkdir -p "$out/seed-$seed/.cache-restoring"
    cp "$archive/cache/seed-$seed"/*.json "$out/seed-$seed/.cache-restoring/"
    mv "$out/seed-$seed/.cache-restoring" "$out/seed-$seed/cache"
  fi
done

log "1/4 training (resumable) into $run"
"$bin" train --data cifar10-test "${limit[@]}" --model unet --schedule ddpm "${train[@]}" --seed 0 \
  --out "$run" --quiet --resume > /dev/null

log "1/4 training monitor on the checkpoints (resumable: recorded steps are skipped)"
"$bin" monitor --run "$run" "${monitor[@]}" > /dev/null
archive_run

# Two passes over the replicate seeds, sharing one cache per seed: first the references and the
# cheap window metrics for every seed (FD's replicate SE and the 10 %-window verdict come early,
# in about an hour per seed on 2 cores), then the full-trajectory forms, the critic and the
# gradient part (several hours per seed). Only the second pass adds the impossibility family.
first=fd,kid,l2,siem_proj_window,siem_proj_origin_window,siem_quad_window
metrics=$first,siem_proj,siem_proj_origin,siem_quad,siem_critic_window,gradient
mkdir -p "$out" "$docs/figures"
for pass in first all; do
  for seed in "${seeds[@]}"; do
    if [ "$pass" = first ]; then list=$first extra=(); else list=$metrics extra=("${family[@]}"); fi
    log "2/4 study, replicate seed $seed ($pass pass; cached per model and metric)"
    "$bin" study --run "$run" --pick "$pick" --reference cifar10-test --features mobilenet \
      --metrics "$list" "${study[@]}" "${extra[@]}" --seed "$seed" --out "$out/seed-$seed" --quiet
    archive_run
  done
done

log "3/4 sample grids"
for name in $(tail -n +2 "$out/seed-${seeds[0]}/metrics.csv" | cut -d, -f1 | grep '^ckpt-'); do
  png="$docs/figures/samples-$name.png" part="$docs/figures/.partial-samples-$name.png"
  [ -s "$png" ] && continue
  "$bin" sample --checkpoint "$run/$name.safetensors" --n 64 --sampler ancestral --steps "$grid_steps" --seed 1 \
    --out "$out/samples-$name.npy" --png-grid "$part" > /dev/null
  mv "$part" "$png"
done

log "4/4 reports with the sample grids (scoreprobe report: no recomputation), copied to $docs"
for seed in "${seeds[@]}"; do
  mkdir -p "$out/seed-$seed/samples"
  cp "$docs"/figures/samples-*.png "$out/seed-$seed/samples/"
  for f in "$out/seed-$seed"/samples/samples-*.png; do mv "$f" "${f%/*}/$(basename "$f" | sed 's/^samples-//')"; done
  "$bin" report "$out/seed-$seed" > /dev/null
done
src=$out/seed-${seeds[0]}
cp "$src/metrics.csv" "$src/correlations.json" "$src/report.html" "$src/monitor.jsonl" "$docs/"
sed 's/\.png)/.svg)/' "$src/report.md" > "$docs/report.md.tmp" && mv "$docs/report.md.tmp" "$docs/report.md"
cp "$src"/figures/*.svg "$docs/figures/"
for seed in "${seeds[@]}"; do cp "$out/seed-$seed/metrics.csv" "$docs/metrics-seed-$seed.csv"; done
log "replicate seeds combined: means ± SE, Spearman CIs over seeds"
replicate_dirs=()
for seed in "${seeds[@]}"; do replicate_dirs+=("$out/seed-$seed"); done
"$bin" replicates "${replicate_dirs[@]}" --out "$out/replicates" > /dev/null
cp "$out/replicates/replicates.md" "$out/replicates/replicates.json" "$docs/"
log "done: $docs"
