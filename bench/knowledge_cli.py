"""The answer bot through its command-line contract, end to end: CIC's training questions imported with
`kefu kb import` into a new database, then CIC's dev questions asked with `kefu bot ask --file … --json`.

What a user scripting against Kefu gets, as opposed to bench/knowledge_bot.py, which calls the engine directly: the
import's checks and article grouping (rows with the same answer are one article; its first question is the title,
which the bot searches too), the stored vectors, the threshold the import's own calibration measured (precision
target 90 %), and the index built from the database. An answer counts as right when its `answer` is the dev
question's label (the CSV's answer column is the intent's name). Reported, as there: top-1, answered share and the
precision of answers, against every dev label and on the dev questions whose label was checked by hand
(bench/audit/cic_dev_audit.csv, see bench/knowledge_bot.py); and the commands' wall times.

Run: .venv/bin/python bench/knowledge_cli.py [--data ../shared/data] [--keep DIR]
     → bench/results/knowledge_cli.json and .md (earlier runs are kept)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _common import earlier_runs, log, save_runs  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
AUDIT = ROOT / "bench" / "audit" / "cic_dev_audit.csv"
NAME = "knowledge_cli"
KEFU = str(Path(sys.executable).with_name("kefu"))


def rows(path: Path) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r]


def timed(command: list[str], env: dict[str, str], stdout: Any = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, cwd=ROOT, stdout=stdout or subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 1)


def figures(replies: list[dict[str, Any]], labels: list[str], picked: list[bool]) -> dict[str, Any]:
    asked = right = answered = answered_right = 0
    for reply, label, chosen in zip(replies, labels, picked, strict=True):
        if not chosen:
            continue
        hit = (reply.get("answer") or "").strip() == label
        asked += 1
        right += hit
        answered += not reply["handoff"]
        answered_right += hit and not reply["handoff"]
    return {"asked": asked, "top1": round(right / asked, 4), "answered_share": round(answered / asked, 4),
            "answered_precision": round(answered_right / answered, 4) if answered else None,
            "answered": answered, "answered_right": answered_right}


def measure(data: Path, work: Path) -> dict[str, Any]:
    train, dev = rows(data / "cic_dataclue" / "train.json"), rows(data / "cic_dataclue" / "dev.json")
    kb_file, questions = work / "cic_train.csv", work / "cic_dev.txt"
    with kb_file.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer", "category", "language"])
        writer.writerows([r["sentence"], r["label_des"], "CIC", "zh-hans"] for r in train)
    questions.write_text("".join(" ".join(r["sentence"].split()) + "\n" for r in dev))
    env = {**os.environ, "KEFU_DATA_DIR": str(work / "data")}
    env.pop("KEFU_DATABASE_URL", None)  # a database of its own (SQLite in the data folder)
    log(f"importing {len(train)} questions")
    timed([KEFU, "migrate", "-v0"], env)
    import_seconds = timed([KEFU, "kb", "import", str(kb_file)], env)
    log(f"imported in {import_seconds} s; asking {len(dev)} questions")
    with (work / "replies.jsonl").open("w") as out:
        ask_seconds = timed([KEFU, "bot", "ask", "--file", str(questions), "--json"], env, stdout=out)
    replies = [json.loads(line) for line in (work / "replies.jsonl").read_text().splitlines()]
    if len(replies) != len(dev):
        raise SystemExit(f"{len(replies)} replies for {len(dev)} questions")
    with AUDIT.open(newline="") as handle:
        verdicts = {int(r["id"]): r["verdict"] for r in csv.DictReader(handle)}
    labels = [r["label_des"] for r in dev]
    verdict = [verdicts.get(int(r["id"])) for r in dev]
    return {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "imported": len(train), "asked": len(dev),
        "import_seconds": import_seconds, "ask_seconds": ask_seconds,
        "all_labels": figures(replies, labels, [True] * len(dev)),
        "hand_checked_right": figures(replies, labels, [v == "ok" for v in verdict]),
        "hand_checked_not_wrong": figures(replies, labels, [v in ("ok", "unclear") for v in verdict]),
    }


def markdown(meta: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    lines = ["# Answer bot through `kefu kb import` and `kefu bot ask`", "",
             f"Latest run {meta['when']} on {meta['machine']} ({meta['cpus']} CPUs). Produced by"
             " `bench/knowledge_cli.py` (see its docstring): CIC train imported, CIC dev asked.", ""]
    for number, run in enumerate(reversed(runs)):
        lines += [f"## {'Latest' if number == 0 else 'Earlier'} run: {run['when']} (1-minute load average"
                  f" {run['load_average_1min']})", "",
                  f"`kefu kb import` of {run['imported']:,} rows (vectors, write, calibration): {run['import_seconds']}"
                  f" s. `kefu bot ask --file` of {run['asked']:,} questions (start, index, answers):"
                  f" {run['ask_seconds']} s.", "",
                  "| measured against | questions | top-1 | answered | precision of answers |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for key, title in (("all_labels", "every dev label (a quarter of them wrong)"),
                           ("hand_checked_right", "dev labels checked by hand and found right"),
                           ("hand_checked_not_wrong", "dev labels checked by hand, right or unclear")):
            f = run[key]
            precision = "—" if f["answered_precision"] is None else f"{f['answered_precision']:.1%}"
            lines.append(f"| {title} | {f['asked']} | {f['top1']:.1%} | {f['answered_share']:.1%} | {precision} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    if not (args.data / "cic_dataclue").is_dir():
        print(f"{args.data} holds no cic_dataclue: nothing to measure (see the module docstring)")
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run = measure(args.data, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="kefu-kb-cli-") as work:
            run = measure(args.data, Path(work))
    runs = [*earlier_runs(args.out, NAME, True), run]
    meta = save_runs(args.out, NAME, runs)
    (args.out / f"{NAME}.md").write_text(markdown(meta, runs))
    for key in ("all_labels", "hand_checked_right", "hand_checked_not_wrong"):
        f = run[key]
        log(f"{key}: top-1 {f['top1']:.3f}, answered {f['answered_share']:.3f} at {f['answered_precision']}")


if __name__ == "__main__":
    main()
