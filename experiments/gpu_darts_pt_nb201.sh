#!/usr/bin/env bash
# DARTS-PT's full NAS-Bench-201 protocol (Wang et al., ICLR 2021, Table 3) on one accelerator:
# for each seed, the DARTS and fix-alpha supernets (C=16, N=5, 100 epochs, batch 64 on the two
# CIFAR-10 halves; config experiments/configs/darts_pt_full.py), then magnitude and perturbation
# selection (5 fine-tuning epochs per edge). Every stage resumes from its checkpoints, so the
# script can be killed and rerun.
#
#   bash experiments/gpu_darts_pt_nb201.sh [SEEDS] [OUT]      # defaults: "0 1 2", runs/gpu_darts_pt
#
# Before the runs it measures the supernet step on this accelerator (30 steps after compilation)
# and prints the projected duration of one supernet (100 epochs x 390 steps of 2 x 64 images)
# and of the whole script, so a session with a time limit knows what it will get. The figure
# cannot be stated in advance: no accelerator has been available to measure it (see issue 20).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${1:-0 1 2}"
OUT="${2:-runs/gpu_darts_pt}"
IMAGES="${JAXNAS_CIFAR10_DIR:-../shared/data/cifar10}"
mkdir -p "$OUT"
python -c "import jax; print('devices:', jax.devices())"
PROBE="$OUT/probe"
rm -rf "$PROBE"
jaxnas darts --workdir "$PROBE" --image-dir "$IMAGES" --epochs 1 --steps-per-epoch 31 \
    --channels 16 --cells 5 --batch-size 64 --no-progress --json > "$OUT/probe.json"
python - "$OUT/probe.json" "$SEEDS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ips = r["images_per_second"]
seeds = len(sys.argv[2].split())
steps = 100 * (25000 // 64)
one = steps * 2 * 64 / ips
# selection: 6 decisions, 5 fine-tuning epochs between them (25 epochs of weight + alpha steps)
sel = 25 * (25000 // 64) * 2 * 64 / ips
total = seeds * 2 * (one + sel)
print(f"supernet step: {ips:.0f} images/s -> one 100-epoch supernet {one / 60:.1f} min, "
      f"one perturbation selection ~{sel / 60:.1f} min; {seeds} seed(s) x 2 supernets: "
      f"~{total / 60:.0f} min in all (compilation excluded)")
PY
for s in $SEEDS; do
  python experiments/darts_pt.py darts_pt_full "$OUT/seed$s" --seed "$s" \
      --results "$OUT/RESULTS_seed$s.md"
done
echo "results: $OUT/RESULTS_seed*.md and $OUT/seed*/darts_pt_rows.json"
