#!/usr/bin/env bash
# The CUDA job, for a machine with an NVIDIA GPU (CI has none: there the CUDA tests skip, saying so).
#   examples/cuda/run.sh [OUT]     (default OUT: reports/reference/cuda)
# 1. the CUDA tests: torch-cuda launches CUDA kernels (a profiler sees them) and records the GPU, or fails;
# 2. the report of torch-cuda beside torch-cpu (accuracy, agreement between the devices, speed);
# 3. on first use, targets/certificates/torch-cuda.toml drafted from that report (review it, then commit it);
#    afterwards, certify: torch-cuda held to its certificate.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-reports/reference/cuda}"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: run this on a GPU machine')"
pytest -q tests/targets/test_cuda_path.py tests/targets -k cuda -p no:cacheprovider
softplus-cert report --targets torch-cuda,torch-cpu --out "$out"
cert=targets/certificates/torch-cuda.toml
if [ ! -e "$cert" ]; then
  softplus-cert draft-certificate --report "$out" --target torch-cuda --out "$cert"
  echo "drafted $cert from $out: review each budget's reason, then commit it"
fi
softplus-cert certify --targets torch-cuda --out "$out/certify"
