#!/usr/bin/env bash
# Slurm job array: one shard of `circuit attribute` per array task, then one merge job.
#
#   sbatch --array=0-$((SHARDS-1)) deploy/slurm/attribute-array.sh          # the shards
#   sbatch --dependency=afterok:<array-job-id> --wrap \
#     "circuit merge $OUT/shard-*.json --json $OUT/result.json"             # the merge
#
# Parameters (environment, with defaults): MODEL (HF folder or .bin), PAIRS (jsonl), OUT (shared folder),
# SHARDS (= array size), METHODS, COMPONENTS, AXIS (pairs|components), CIRCUIT (the circuit command).
#SBATCH --job-name=circuit-attribute
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --output=circuit-%A_%a.out
set -euo pipefail

: "${MODEL:?set MODEL to a Hugging Face model folder or a llama2.c .bin}"
: "${PAIRS:?set PAIRS to a prompt-pair .jsonl file}"
OUT="${OUT:-$PWD/circuit-shards}"
SHARDS="${SHARDS:-${SLURM_ARRAY_TASK_COUNT:-1}}"
METHODS="${METHODS:-patching,atp,hvp,mshvp}"
COMPONENTS="${COMPONENTS:-heads,mlps}"
AXIS="${AXIS:-Pairs}"
CIRCUIT="${CIRCUIT:-circuit}"
INDEX="${SLURM_ARRAY_TASK_ID:-0}"
DEVICE="cpu"
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then DEVICE="cuda"; fi

mkdir -p "$OUT"
"$CIRCUIT" attribute --model "$MODEL" --pairs "$PAIRS" --no-sff --methods "$METHODS" --components "$COMPONENTS" \
  --device "$DEVICE" --shard "$INDEX/$SHARDS" --shard-axis "$AXIS" --partial "$OUT/shard-$INDEX.json"
