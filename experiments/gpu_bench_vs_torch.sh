#!/usr/bin/env bash
# jaxnas against PyTorch on one CUDA GPU (issue 21, item 4): experiments/bench_vs_torch.py's
# three cases (NB201 supernet weight step at batch 64 and 256, DARTS-space supernet, DARTS
# NetworkCIFAR), jaxnas on XLA's own GPU convolutions, PyTorch eager in NCHW and channels-last on
# the same GPU, in float32 and in bfloat16 (jaxnas: bfloat16 images and convolutions; PyTorch:
# autocast; float32 parameters in both), interleaved in one process per dtype.
#
#   bash experiments/gpu_bench_vs_torch.sh [OUT]     # default OUT: experiments/results
#
# Needs jax with CUDA and a CUDA build of torch (the `bench` extra) on the GPU machine.
# Writes OUT/bench_vs_torch_gpu_{float32,bfloat16}.json and prints one table per dtype. No GPU
# has been lent to this task, so it has not been run yet; expect a few minutes, most of it
# compilation.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-experiments/results}"
mkdir -p "$OUT"
python -c "import jax; assert jax.default_backend() == 'gpu', jax.devices(); print(jax.devices())"
python -c "import torch; assert torch.cuda.is_available(); print(torch.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
for DTYPE in float32 bfloat16; do
  echo "== $DTYPE"
  PYTHONPATH=. python experiments/bench_vs_torch.py --dtype "$DTYPE" --steps 20 --rounds 5 \
      --threads 4 --out "$OUT/bench_vs_torch_gpu_$DTYPE.json"
done
