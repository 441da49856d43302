#!/usr/bin/env python3
"""Count the example playbooks' findings per rule over the real-world corpora.

Writes rules-examples/FINDINGS.md: for each language playbook, each rule's findings and
files-with-findings on its corpus, with the rules that stay silent or flood marked, so
that noisy rules can be inspected and tightened.  Not run in CI (the corpora are 1.1 GB).

    ../shared/corpora/fetch-corpora.sh ../corpora
    cargo build --release
    python3 rules-examples/findings.py --corpora ../corpora [--samples 5]

Standard library only.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLAYBOOKS = {"typescript": "typescript", "python": "python", "java": "java"}
# A rule "floods" above this many findings per 1,000 files of its corpus.
FLOOD_PER_1000_FILES = 200


def scan(volatile: Path, playbook: str, corpus: Path) -> dict:
    cmd = [str(volatile), "scan", "--rules", str(REPO / "rules-examples" / playbook),
           "--format", "json", "--fail-on", "never", "--no-progress", str(corpus)]
    started = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, check=False)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.decode()[:2000]}")
    report = json.loads(out.stdout)
    report["seconds"] = time.monotonic() - started
    return report


def rule_ids(volatile: Path, playbook: str) -> list[str]:
    out = subprocess.run([str(volatile), "rules", "list", "--rules",
                          str(REPO / "rules-examples" / playbook)],
                         capture_output=True, check=True, text=True)
    return [line.split("\t")[2] for line in out.stdout.splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", type=Path, required=True)
    parser.add_argument("--volatile", type=Path, default=REPO / "target" / "release" / "volatile")
    parser.add_argument("--samples", type=int, default=0,
                        help="print this many sample findings of every noisy rule")
    parser.add_argument("--output", type=Path, default=REPO / "rules-examples" / "FINDINGS.md")
    args = parser.parse_args()

    lines = [
        "# Example playbooks on real code",
        "",
        "Findings of each language playbook's rules on its real-world corpus "
        "(`../shared/corpora/fetch-corpora.sh`). Made by:",
        "",
        "```sh",
        "python3 rules-examples/findings.py --corpora ../corpora",
        "```",
        "",
        f"`silent`: no finding. `floods`: more than {FLOOD_PER_1000_FILES} findings per "
        "1,000 files. Noisy rules' findings were sampled by hand for false positives.",
    ]
    for playbook, corpus_name in PLAYBOOKS.items():
        corpus = args.corpora / corpus_name
        report = scan(args.volatile, playbook, corpus)
        files = report["stats"]["files"]
        by_rule = collections.Counter(f["rule_id"] for f in report["findings"])
        files_by_rule = collections.defaultdict(set)
        samples = collections.defaultdict(list)
        for f in report["findings"]:
            files_by_rule[f["rule_id"]].add(f["path"])
            samples[f["rule_id"]].append(f)
        lines += ["", f"## {playbook} on the {corpus_name} corpus", "",
                  f"{files:,} files, {report['stats']['bytes'] / 1e6:.0f} MB, "
                  f"{len(report['findings']):,} findings, {len(report['errors'])} file errors, "
                  f"{report['seconds']:.1f} s.", "",
                  "| rule | findings | files | per 1,000 files | status |",
                  "| --- | ---: | ---: | ---: | --- |"]
        for rid in sorted(rule_ids(args.volatile, playbook)):
            n = by_rule.get(rid, 0)
            rate = 1000 * n / files if files else 0
            status = "silent" if n == 0 else ("floods" if rate > FLOOD_PER_1000_FILES else "ok")
            lines.append(f"| `{rid}` | {n:,} | {len(files_by_rule[rid]):,} | {rate:.1f} | {status} |")
            if args.samples and n and status != "ok":
                for f in samples[rid][:: max(1, n // args.samples)][: args.samples]:
                    print(f"{rid}\t{f['path']}:{f['range']['start']['line']}\t{f['message']}")
    # Keep the hand-written review notes that follow the measured tables.
    kept = ""
    if args.output.exists():
        old = args.output.read_text()
        marker = "\n## Sampled for false positives"
        if marker in old:
            kept = old[old.index(marker):]
    args.output.write_text("\n".join(lines) + "\n" + kept)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
