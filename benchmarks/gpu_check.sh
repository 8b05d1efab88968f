#!/usr/bin/env bash
# The GPU checks of issue 24 in one run (about 6-9 minutes on an H200; nothing is downloaded):
#   1. GPU, driver, CUDA and cuDNN versions
#   2. the train stage on CUDA with the default data, fp32 then bf16, each with its test MAE
#      (bf16 should be within 1 % of fp32)
#   3. the train stage on a 1,000-series set (the default series, scaled and noised), fp32 and
#      bf16, batch 1024, 2 epochs
#   4. the throughput of the project's loop against the bare loop and a raw cuDNN LSTM loop,
#      batch 1024, fp32 and bf16 (goal: ratio_vs_raw >= 0.8)
#   5. a kill -9 after the first CUDA checkpoint, and the resume (weights vs step 2's fp32)
#   6. torchrun --nproc_per_node 1: NCCL process group and DDP at world size 1
# Run from the repository root with the project's environment active:
#   OUT=/some/folder bash benchmarks/gpu_check.sh
# Everything lands in $OUT (default reports/bench/gpu): gpu_check.log, gpu_check.json (the
# summary), the throughput JSONs, each step's stage log.
set -uo pipefail

ROOT=$(pwd)
OUT=$(mkdir -p "${OUT:-reports/bench/gpu}" && cd "${OUT:-reports/bench/gpu}" && pwd)
PY=${PYTHON:-python}
export PYTHONPATH="$ROOT/src:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
unset MLFLOW_TRACKING_URI
SCRATCH=$(mktemp -d)
exec > >(tee "$OUT/gpu_check.log") 2>&1
START=$SECONDS
log() { echo "== +$((SECONDS - START))s $*"; }
summary() { echo "$1=$2" >> "$OUT/summary.env"; }
: > "$OUT/summary.env"

# A workspace: the pipeline files (no data, store or models) and a params edit.
make_workspace() {  # name
  mkdir -p "$SCRATCH/$1" && cp -r "$ROOT"/{params.yaml,pipelines,src} "$SCRATCH/$1"/
  echo "$SCRATCH/$1"
}
set_params() {  # workspace key=value ...  (yaml values: cuda, bf16, 2, ...)
  local ws=$1; shift
  "$PY" - "$ws/params.yaml" "$@" <<'PYEOF'
import sys, yaml
path, *pairs = sys.argv[1:]
params = yaml.safe_load(open(path))
for pair in pairs:
    key, value = pair.split("=", 1)
    section, *rest = key.split(".")
    target = params[section]
    for part in rest[:-1]:
        target = target[part]
    target[rest[-1]] = yaml.safe_load(value)
yaml.safe_dump(params, open(path, "w"), sort_keys=False)
PYEOF
}
stage() {  # workspace stage [timeout_s] -> the stage's log in $OUT
  local ws=$1 name=$2 limit=${3:-300} tag=${4:-$2}
  (cd "$ws" && timeout "$limit" "$PY" -m "pipelines.$name") > "$OUT/$tag.log" 2>&1
  local rc=$?
  log "$tag: exit $rc ($(tail -n 1 "$OUT/$tag.log" | cut -c1-160))"
  return $rc
}
weights_sha() { sha256sum "$1/models/train/weights.safetensors" | cut -d' ' -f1; }
test_mae() {  # workspace -> the kept model's test MAE, scored as evaluate scores it (fp32, CPU)
  (cd "$1" && "$PY" - <<'PYEOF'
import torch
from forecasting.data.splits import read_splits
from forecasting.model.datasets import test_windows
from forecasting.model.network import load_model
from pipelines.params import load_params
p = load_params()
model = load_model(p.paths.models)
c = model.config
w = test_windows(read_splits(p.paths.validated), p.base.freq, c.input_length, c.horizon, p.evaluate.origin_step)
b = w.gather(torch.arange(len(w)))
with torch.inference_mode():
    print(f"{float((model(b.inputs, b.end_phase) - b.targets).abs().mean()):.2f}")
PYEOF
  )
}
metric() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1/reports/train/metrics.json" "$2"; }

log "1. versions"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
"$PY" -c "import torch, json; print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'cudnn': torch.backends.cudnn.version(), 'gpu': torch.cuda.get_device_name(0)}))" | tee "$OUT/versions.json"
summary driver "$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1)"

log "2. default data on CUDA, fp32 and bf16"
W=$(make_workspace default)
set_params "$W" train.device=cuda
stage "$W" ingest 120 && stage "$W" validate 180
for precision in fp32 bf16; do
  set_params "$W" train.precision=$precision
  if stage "$W" train 300 "train_default_$precision"; then
    summary "default_${precision}_weights" "$(weights_sha "$W")"
    summary "default_${precision}_test_mae" "$(test_mae "$W")"
    summary "default_${precision}_seconds" "$(metric "$W" train/seconds)"
    summary "default_${precision}_samples_per_second" "$(metric "$W" train/samples_per_second)"
    cp -r "$W/models/train" "$SCRATCH/model_$precision"
  fi
done

log "3. 1,000 series, batch 1024, 2 epochs"
M=$(make_workspace many)
(cd "$M" && "$PY" - <<'PYEOF'
import numpy as np
import pandas as pd
from forecasting.data.sources import ColumnMapping, read_source
frame = read_source("builtin:taylor", ColumnMapping())
rng = np.random.default_rng(0)
parts = []
for i in range(1000):
    v = frame["value"].to_numpy() * rng.uniform(0.5, 2.0)
    parts.append(pd.DataFrame({"timestamp": frame["timestamp"], "site": f"s{i:04d}", "value": v * (1 + 0.01 * rng.standard_normal(len(v)))}))
pd.concat(parts).to_csv("many.csv", index=False)
PYEOF
)
set_params "$M" ingest.source=many.csv ingest.columns.series_id=site train.device=cuda \
  train.epochs=2 train.patience=2 train.batch_size=1024
stage "$M" ingest 180 ingest_many && stage "$M" validate 240 validate_many
for precision in fp32 bf16; do
  set_params "$M" train.precision=$precision
  if stage "$M" train 300 "train_many_$precision"; then
    summary "many_${precision}_val_mae" "$(metric "$M" val/mae)"
    summary "many_${precision}_samples_per_second" "$(metric "$M" train/samples_per_second)"
    summary "many_${precision}_seconds" "$(metric "$M" train/seconds)"
  fi
done

log "4. throughput against the raw cuDNN loop, batch 1024, 100 series"
for precision in fp32 bf16; do
  (cd "$W" && timeout 240 "$PY" "$ROOT/benchmarks/train_throughput.py" --device cuda \
    --precision "$precision" --batch-size 1024 --series 100 --epochs 3 --rounds 3) \
    > "$OUT/throughput_$precision.log" 2>&1
  log "throughput $precision: exit $? ($(tail -n 1 "$OUT/throughput_$precision.log"))"
  cp "$W"/reports/bench/train_throughput_cuda_"$precision"_100series.json "$OUT"/ 2>/dev/null
done

log "5. kill -9 after the first CUDA checkpoint, then resume"
set_params "$W" train.precision=fp32
rm -rf "$W/models/checkpoints"
(cd "$W" && exec "$PY" -m pipelines.train) > "$OUT/train_killed.log" 2>&1 &
PID=$!
for _ in $(seq 1 3000); do
  [ -f "$W/models/checkpoints/checkpoint.pt" ] && break
  kill -0 $PID 2>/dev/null || break
  sleep 0.05
done
kill -9 $PID 2>/dev/null; wait $PID 2>/dev/null
log "killed: checkpoint $( [ -f "$W/models/checkpoints/checkpoint.pt" ] && echo present || echo missing)"
if stage "$W" train 300 train_resumed; then
  summary resumed_after_epoch "$(grep -o 'resuming from the checkpoint after epoch [0-9]*' "$OUT/train_resumed.log" | grep -o '[0-9]*$')"
  summary resumed_weights "$(weights_sha "$W")"
  summary resumed_test_mae "$(test_mae "$W")"
fi

log "6. torchrun --nproc_per_node 1 (NCCL, DDP at world size 1)"
(cd "$W" && NCCL_DEBUG=INFO timeout 300 "$PY" -m torch.distributed.run --standalone \
  --nproc_per_node 1 -m pipelines.train) \
  > "$OUT/train_torchrun.log" 2>&1
log "torchrun: exit $? ($(grep -o '[0-9]* processes' "$OUT/train_torchrun.log" | head -n 1))"
summary torchrun_nccl "$(grep -c 'NCCL\|nccl' "$OUT/train_torchrun.log")"
summary torchrun_weights "$(weights_sha "$W")"
summary torchrun_test_mae "$(test_mae "$W")"

log "summary"
"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
summary = dict(line.split("=", 1) for line in (out / "summary.env").read_text().splitlines() if "=" in line)
summary["versions"] = json.loads((out / "versions.json").read_text())
for p in sorted(out.glob("train_throughput_cuda_*.json")):
    r = json.loads(p.read_text())
    summary[p.stem] = {k: r[k] for k in ("project_samples_per_second", "raw_samples_per_second", "bare_samples_per_second", "ratio", "ratio_vs_raw", "ratio_with_validation")}
try:
    fp32, bf16 = float(summary["default_fp32_test_mae"]), float(summary["default_bf16_test_mae"])
    summary["bf16_vs_fp32_test_mae"] = round(bf16 / fp32 - 1, 4)
except (KeyError, ValueError):
    pass
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
PYEOF
log "done in $((SECONDS - START))s"
rm -rf "$SCRATCH"
