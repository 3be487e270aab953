#!/bin/sh
# Re-runs every command of the worked example in docs/planning.md, in a scratch folder.
# Usage: sh docs/planning/examples/run_guide.sh [folder]   (default /tmp/planning-example)
set -e
EXAMPLES=$(cd "$(dirname "$0")" && pwd)
KEFU=${KEFU:-kefu}
OUT=${1:-/tmp/planning-example}
mkdir -p "$OUT" && cd "$OUT"
cp "$EXAMPLES"/guide_*.csv .
python3 "$EXAMPLES/make_history.py" > history.csv                                         # step 2
$KEFU wfm forecast --history history.csv --horizon-days 7 --events guide_events.csv --out forecast.csv   # step 3
$KEFU wfm staff --calls 84 --interval-seconds 1800 --talk 238 --acw 45 --sl 0.8 --within 20  # step 4
$KEFU wfm staff --calls 84 --talk 238 --acw 45 --within 20 --agents 16
$KEFU wfm staff --calls 84 --talk 238 --acw 45 --sl 0.8 --within 20 --patience 120
$KEFU wfm simulate --calls 84 --talk 238 --acw 45 --agents 17 --intervals 16 --warmup-intervals 4 --replications 30 --seed 1
$KEFU wfm simulate --calls 84 --talk 238 --acw 45 --agents 17 --patience 120 --intervals 16 --warmup-intervals 4 --replications 30 --seed 1
$KEFU wfm simulate --calls 84 --talk 238 --acw 45 --agents 15 --patience 120 --intervals 16 --warmup-intervals 4 --replications 30 --seed 1
$KEFU wfm trunks --calls 84 --talk 238 --asa 18.06 --blocking 0.01                             # step 5
$KEFU wfm plan --forecast forecast.csv --sl 0.8 --within 20 --shrinkage-file guide_shrinkage.csv \
    --trunk-blocking 0.01 --acw 45 --out plan.csv                                            # steps 4-6
$KEFU wfm plan --forecast forecast.csv --sl 0.8 --within 20 --shrinkage 0.1575 --out requirements.csv   # step 7
$KEFU wfm schedule --requirements requirements.csv --shifts guide_shifts.csv --agents guide_agents_32.csv \
    --shrinkage 0.1575 --out schedule32.csv
$KEFU wfm schedule --requirements requirements.csv --shifts guide_shifts.csv --agents guide_agents_36.csv \
    --shrinkage 0.1575 --out schedule36.csv
$KEFU wfm scenarios --forecast forecast.csv --acw 45 --within 20 --cost-per-hour 45 --seat-cost-month 800 \
    --trunk-cost-month 120 --overhead 0.15 --shrinkage 0.3 --deflection 0.2                  # steps 8-9
$KEFU wfm scenarios --forecast forecast.csv --acw 45 --within 20 --scenario medium:0.8 \
    --scenario peak:sl=0.8,volume=1.15 --cost-per-hour 45 --seat-cost-month 800 --trunk-cost-month 120 \
    --overhead 0.15 --shrinkage 0.3 --patience 120
$KEFU wfm scenarios --marginal --calls 84 --aht 283 --interval-seconds 1800 --within 20
$KEFU wfm staff --calls 101 --aht 283 --sl 0.8 --within 20 --patience 120                     # intraday
$KEFU wfm simulate --calls 95,101,86,67 --aht 283 --agents 16,17,16,12 --patience 120 --replications 30 --seed 1
$KEFU wfm simulate --calls 95,101,86,67 --aht 283 --agents 18,19,18,13 --patience 120 --replications 30 --seed 1
