#!/usr/bin/env python3
"""The comparison behind benches/README.md; run it through benches/compare.sh.

Every measurement runs each contender in turn, RUNS times, alternating (A B C A B C ...),
so that drift of a shared machine hits all alike; the figure is the median wall time, with
CPU time (user + system) and peak RSS of the median run. Ratios are throughput ratios
(baseline wall / contender wall), so > 1 means the contender is faster.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd):
    """(wall s, cpu s, peak RSS MB) of one run; output discarded, exit status ignored
    (scanners exit 1 when they find something)."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %S %M"] + cmd,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = out.stderr.strip().splitlines()[-1].split()
    wall, user, system, rss_kb = (float(x) for x in last[-4:])
    return wall, user + system, rss_kb / 1024


def alternate(contenders, runs):
    """contenders: [(name, cmd)]. Returns {name: (median wall, cpu, rss)}."""
    samples = {name: [] for name, _ in contenders}
    for _ in range(runs):
        for name, cmd in contenders:
            samples[name].append(timed(cmd))
    out = {}
    for name, runs_ in samples.items():
        walls = sorted(r[0] for r in runs_)
        median = statistics.median(walls)
        best = min(runs_, key=lambda r: abs(r[0] - median))
        out[name] = (median, best[1], max(r[2] for r in runs_))
    return out


def row(title, results, baseline, contender, note=""):
    b, c = results[baseline], results[contender]
    ratio = b[0] / c[0] if c[0] else float("inf")
    cells = [title, f"{c[0]:.2f} s", f"{c[1]:.1f} s", f"{c[2]:.0f} MB",
             f"{b[0]:.2f} s", f"{b[1]:.1f} s", f"{b[2]:.0f} MB", f"**{ratio:.2f}**", note]
    print("| " + " | ".join(cells) + " |", flush=True)
    return ratio


def header(contender, baseline):
    print(f"\n| measurement | {contender} wall | CPU | peak RSS | {baseline} wall | CPU | peak RSS "
          f"| throughput ratio | note |", flush=True)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpora", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--volatile", required=True)
    ap.add_argument("--parse-only", required=True)
    ap.add_argument("--sg051", required=True)
    ap.add_argument("--sg031", required=True)
    ap.add_argument("--slow-runs", type=int, default=1,
                    help="runs of a row whose baseline takes minutes a pass (ast-grep 0.31.1 "
                         "over java.base: about 590 s)")
    ap.add_argument("--only", help="comma-separated sections: sg,parse,essentials,size,literals")
    a = ap.parse_args()
    sections = set((a.only or "sg,parse,essentials,size,literals").split(","))
    t = str(a.threads)
    corpus = {name: os.path.join(a.corpora, name) for name in ("python", "typescript", "java")}
    vol = lambda rules, path, *extra: [a.volatile, "scan", "--format", "json", "--fail-on", "never",
                                       "--no-progress", "--threads", t, *extra,
                                       *sum((["--rules", r] for r in rules), []), path]
    parse = lambda path, langs: [a.parse_only, "--threads", t,
                                 *sum((["--lang", l] for l in langs), []), path]
    all_langs = ["python", "typescript", "tsx", "javascript", "java"]
    diff_cfg = os.path.join(ROOT, "tests/differential/sgconfig.yml")
    print(f"runs: {a.runs} alternating, median; threads: {a.threads}; "
          f"{os.cpu_count()} cores; ast-grep {a.sg051} / {a.sg031}", flush=True)

    if "sg" in sections:
        header("Volatile", "ast-grep 0.51.1")
        for name, path in corpus.items():
            r = alternate([
                ("volatile", vol([os.path.join(ROOT, "tests/differential/sgconfig.yml")], path)),
                ("sg", [a.sg051, "scan", "-c", diff_cfg, "--json=stream", "-j", t, path]),
                ("parse", parse(path, all_langs)),
            ], a.runs)
            row(f"{name}: differential rules (44)", r, "sg", "volatile",
                f"parse-only {r['parse'][0]:.2f} s; Volatile / parse-only "
                f"{r['parse'][0] / r['volatile'][0]:.2f}")

    if "parse" in sections:
        header("Volatile", "parse only")
        playbooks = {
            "python": (["rules-examples/python"], ["python"]),
            "typescript": (["rules-examples/typescript"], ["typescript", "tsx", "javascript"]),
            "java": (["rules-examples/java"], ["java"]),
        }
        for name, path in corpus.items():
            rules, langs = playbooks[name]
            rules = [os.path.join(ROOT, r) for r in rules]
            r = alternate([("volatile", vol(rules, path)), ("parse", parse(path, langs))], a.runs)
            row(f"{name}: example playbook ({', '.join(langs)})", r, "parse", "volatile")

    if "essentials" in sections:
        header("Volatile", "ast-grep 0.31.1")
        ess = os.path.join(ROOT, "../shared/conformance/ast-grep-essentials")
        subsets = [
            ("python: Twisted, essentials", os.path.join(corpus["python"], "twisted-24.11.0"),
             "python", a.runs),
            ("java: java.base, essentials", os.path.join(corpus["java"], "src/java.base"),
             "java", a.slow_runs),
        ]
        for title, path, lang, runs in subsets:
            rules_dir = os.path.join(ess, "rules", lang)
            with tempfile.TemporaryDirectory() as tmp:
                cfg = os.path.join(tmp, "sgconfig.yml")
                with open(cfg, "w") as f:
                    f.write(f"ruleDirs:\n  - {rules_dir}\n")
                r = alternate([
                    ("volatile", vol([rules_dir], path)),
                    ("sg", [a.sg031, "scan", "-c", cfg, "--json=stream", "-j", t, path]),
                ], runs)
            row(title, r, "sg", "volatile", f"{runs} run(s)")

    if "size" in sections:
        header("1,000 rules", "10 rules")
        gen = os.path.join(ROOT, "benches/gen-rules.py")
        with tempfile.TemporaryDirectory() as tmp:
            big, small = os.path.join(tmp, "big"), os.path.join(tmp, "small")
            subprocess.run([sys.executable, gen, os.path.join(ROOT, "rules-examples/python"),
                            corpus["python"], big, "1000"], check=True, stdout=subprocess.DEVNULL)
            os.makedirs(small)
            # The first ten generated rules come from ten different templates.
            for n in sorted(os.listdir(big), key=lambda n: n[-8:])[:10]:
                shutil.copy(os.path.join(big, n), small)
            r = alternate([("big", vol([big], corpus["python"])),
                           ("small", vol([small], corpus["python"]))], a.runs)
            row("python: generated playbook", r, "small", "big", "goal: ratio ≥ 0.5")

    if "literals" in sections:
        header("Volatile", "parse only")
        for name, langs in (("python", ["python"]), ("typescript", ["typescript", "tsx", "javascript"])):
            r = alternate([
                ("volatile", vol([os.path.join(ROOT, "rules-examples/team-conventions")], corpus[name])),
                ("parse", parse(corpus[name], langs)),
            ], a.runs)
            row(f"{name}: team-conventions (all rules need literals)", r, "parse", "volatile",
                "goal ≥ 3")


if __name__ == "__main__":
    main()
