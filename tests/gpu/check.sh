#!/usr/bin/env bash
# The GPU check: what was built for GPUs (captured steps, fused seed arrays, the fast FID mode), run and timed in
# one command on a bare GPU machine, each step under its own time limit (total under 8 minutes).
#
#   tests/gpu/check.sh [--device cuda|cpu] [OUTDIR]       (OUTDIR default: gpu-check; $OUT on a lent machine)
#
# On CUDA it first installs the wheels `make gpu-bundle` wrote into .gpu-bundle/ (hydra-core, omegaconf, antlr4,
# torch-fidelity: the machine's python3 lacks them) into a temporary folder with pip --no-index --no-deps --target.
# Then: the captured-step and fused-array tests on CUDA; `python -m ganexp.bench train` (eager, captured = CUDA
# graphs, fused S = 4 and 16; GAN-NS and WGAN-GP at batch 64); `python -m ganexp.bench fid` exact and fast on 10k
# generated images with seeded random Inception weights (the real file, 96 MB, cannot travel; a speed figure
# needs no trained weights). A step that fails prints its reason and the script goes on. Last, one table
# (figure, value, ratio to the plain loop) printed and written to OUTDIR/gpu-check.md.
#
# --device cpu runs every step at tiny sizes in the project's own environment (no bundle; the tests only
# collected): the suite runs it so that the script is known to start before a GPU sees it.
set -uo pipefail
cd "$(dirname "$0")/../.."
DEVICE=cuda
OUTDIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --device=*) DEVICE=${1#--device=}; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "tests/gpu/check.sh: unknown option $1 (--device cuda|cpu, then OUTDIR)" >&2; exit 2 ;;
    *) OUTDIR=$1; shift ;;
  esac
done
case "$DEVICE" in cuda|cpu) ;; *) echo "tests/gpu/check.sh: --device must be cuda or cpu, not $DEVICE" >&2; exit 2 ;; esac
OUTDIR=${OUTDIR:-${OUT:-gpu-check}}
mkdir -p "$OUTDIR" || { echo "tests/gpu/check.sh: cannot create $OUTDIR; name a writable folder" >&2; exit 2; }
PY=${PYTHON:-python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
STATUS="$OUTDIR/steps.tsv"
: > "$STATUS"
T0=$(date +%s)

# step NAME LIMIT_S COMMAND...: run it under `timeout`, its output to the console and OUTDIR/NAME.log
step() {
  local name=$1 limit=$2 t rc
  shift 2
  echo "== $name (limit ${limit}s): $*"
  t=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUTDIR/$name.log"
  rc=${PIPESTATUS[0]}
  t=$(( $(date +%s) - t ))
  case $rc in
    0) echo "== $name: ok in ${t}s" ;;
    124|137) echo "== $name: FAILED: over its ${limit}s limit (killed after ${t}s); going on" ;;
    *) echo "== $name: FAILED with exit $rc after ${t}s ($(grep -v '^\s*$' "$OUTDIR/$name.log" | tail -n 1)); going on" ;;
  esac
  printf '%s\t%s\t%s\n' "$name" "$rc" "$t" >> "$STATUS"
}

if [ "$DEVICE" = cuda ]; then
  if compgen -G ".gpu-bundle/*.whl" >/dev/null; then
    step bundle 30 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$TMP/site" \
      .gpu-bundle/*.whl
    export PYTHONPATH=$TMP/site:$PYTHONPATH
  fi
  TESTS=(-p no:cacheprovider -q -m "not slurm" -n 8 --dist load tests/test_captured.py tests/test_fused.py
         tests/gpu/test_cuda.py)
  TRAIN=(--losses gan_ns,wgan_gp --steps 200 --log-every 50 --sizes 4,16)
  FID=(--num-samples 10000)
  LIMITS=(180 120 100)  # with the bundle (30 s) and the environment (30 s): 460 s at most
else
  TESTS=(-p no:cacheprovider -q --collect-only -m "not slurm" tests/test_captured.py tests/test_fused.py
         tests/gpu/test_cuda.py)
  TRAIN=(--losses gan_ns --steps 4 --log-every 2 --sizes 2 --compile none)
  FID=(--num-samples 4 --skip-torch-fidelity)
  LIMITS=(120 120 120)
fi

step environment 30 "$PY" -c "import torch, hydra, omegaconf, torch_fidelity, ganexp; print('torch', torch.__version__, \
'| device', torch.cuda.get_device_name() if '$DEVICE' == 'cuda' else 'CPU', '| hydra', hydra.__version__, \
'| torch-fidelity', torch_fidelity.__version__)"
export GANEXP_TEST_ACCELERATOR=$([ "$DEVICE" = cuda ] && echo gpu || echo cpu)
step tests "${LIMITS[0]}" "$PY" -m pytest "${TESTS[@]}"
step bench-train "${LIMITS[1]}" "$PY" -m ganexp.bench train --device "$DEVICE" --batch-size 64 \
  "${TRAIN[@]}" --out "$OUTDIR/bench-train.json"
step bench-fid "${LIMITS[2]}" "$PY" -m ganexp.bench fid --device "$DEVICE" --random-weights "${FID[@]}" \
  --out "$OUTDIR/bench-fid.json"
"$PY" tests/gpu/table.py "$OUTDIR" | tee "$OUTDIR/gpu-check.md"
echo "gpu check: $(( $(date +%s) - T0 ))s in all; $OUTDIR/gpu-check.md"
