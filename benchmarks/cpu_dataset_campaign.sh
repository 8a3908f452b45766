#!/usr/bin/env bash
# Re-measure the bundled CPU dataset on this machine, on a quiet machine only (nothing else running):
# the 21 zoo models (batch 1 and 8, fp32), the sampled layer space, and the transformers of the bundled set
# (vit_b_16, swin_t, the two built-in references at sequence lengths 128 and 512). Every step logs its wall time to campaign.log; a step can be resumed with RESUME=--resume.
# With BUNDLE=DIR it then builds the dataset, trains the predictors (--family best) into DIR and records the
# calibration probes into it (calibrate --record-reference), so DIR can ship as this device's bundle.
# Usage: [BUNDLE=DIR] bash benchmarks/cpu_dataset_campaign.sh [OUT] (default training_data)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-training_data}
BIN=${BIN:-.venv/bin}
RESUME=${RESUME:-}
SAMPLED_N=${SAMPLED_N:-3000}
LOG=${LOG:-campaign.log}
BUNDLE=${BUNDLE:-}
JOBS=${JOBS:-2}
TRANSFORMERS=${TRANSFORMERS:-"vit_b_16 swin_t bert_base_like@seq=128 bert_base_like@seq=512 gpt2_small_like@seq=128 gpt2_small_like@seq=512"}

step() {
    local name=$1
    shift
    local start
    start=$(date +%s)
    echo "== $(date -u +%FT%TZ) $name: $*" | tee -a "$LOG"
    "$@" 2>&1 | tee -a "$LOG"
    echo "== $name took $(($(date +%s) - start)) s (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$LOG"
}

echo "== CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) ($(nproc) cores)" | tee -a "$LOG"
step zoo "$BIN/profile-model" --all --batch-size 1,8 --dtype fp32 --out "$OUT" $RESUME --no-progress
step sampled "$BIN/profile-layers" --n "$SAMPLED_N" --seed 0 --batch-sizes 1,8 --dtype fp32 --out "$OUT" $RESUME --no-progress
if [ -n "$TRANSFORMERS" ]; then
    # shellcheck disable=SC2086
    step transformers "$BIN/profile-model" $TRANSFORMERS --batch-size 1,8 --dtype fp32 --out "$OUT" $RESUME --no-progress
fi
if [ -n "$BUNDLE" ]; then
    DEVICE_ID=$("$BIN/python" -c 'from layerpower.hardware import device_id; print(device_id("cpu"))')
    DATASETS=${DATASETS:-datasets}
    step dataset "$BIN/build-dataset" "$OUT" --device-id "$DEVICE_ID" --out "$DATASETS/$DEVICE_ID"
    step train "$BIN/train-predictors" "$DATASETS/$DEVICE_ID" --family best --jobs "$JOBS" --out "$BUNDLE" --no-progress
    step record "$BIN/layerpower" calibrate --record-reference "$BUNDLE" --no-progress
fi
