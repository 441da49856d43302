#!/usr/bin/env python3
"""Differential test: Volatile versus the ast-grep CLI 0.51.1 on real-world code.

Both tools scan the same corpus directories with the same rule set
(tests/differential/rules, one ast-grep rule per file).  Every finding is reduced
to the tuple (rule id, path relative to the corpora directory, byte start,
byte end) and the two sets are compared rule by rule.

Exit status: 0 when the sets agree for every rule that is not listed in
KNOWN_DIFFERENCES, 1 when some rule differs, 2 when the harness itself failed
(a tool is missing, crashed, or printed something that is not its JSON).

Standard library only.  See README.md in this directory.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# --------------------------------------------------------------------------------------
# Rules whose differences are accepted, each with the reason why.  A rule listed here
# is still compared and reported, but its differences do not fail the run.
#
#   "rule-id": "why Volatile legitimately differs from ast-grep 0.51.1 here",
KNOWN_DIFFERENCES: dict[str, str] = {}
# --------------------------------------------------------------------------------------

AST_GREP_VERSION = "0.51.1"
SCRIPT_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPT_DIR.parent.parent
RULES_DIR = SCRIPT_DIR / "rules"
SGCONFIG = SCRIPT_DIR / "sgconfig.yml"
DEFAULT_VENV = REPO_ROOT / "target" / "differential" / "ast-grep-venv"

# corpus name -> sub-directory of the corpora directory (layout of fetch-corpora.sh)
CORPORA = {"python": "python", "typescript": "typescript", "java": "java"}
# rule `language:` value (lower-cased) -> corpus / language family
FAMILY = {
    "python": "python", "py": "python",
    "typescript": "typescript", "ts": "typescript", "tsx": "typescript",
    "javascript": "typescript", "js": "typescript", "jsx": "typescript",
    "java": "java",
}
LANG_ALIASES = {
    "python": "python", "py": "python",
    "typescript": "typescript", "ts": "typescript", "tsx": "typescript",
    "javascript": "typescript", "js": "typescript",
    "java": "java",
}
# extensions ast-grep 0.51.1 maps to the rule languages used here (for --limit-files)
SOURCE_EXTS = {
    "python": (".py", ".py3", ".pyi", ".bzl"),
    "typescript": (".ts", ".cts", ".mts", ".tsx", ".js", ".cjs", ".mjs", ".jsx"),
    "java": (".java",),
}
EXAMPLES = 5

Key = tuple  # (rule_id, path, start, end)


class HarnessError(Exception):
    """The harness could not produce a comparison (exit 2)."""


def log(msg: str) -> None:
    print(f"[differential] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- rules --
def load_rules() -> dict[str, str]:
    """rule id -> language, read with a regex (stdlib has no YAML parser)."""
    rules: dict[str, str] = {}
    for f in sorted(RULES_DIR.glob("*.y*ml")):
        text = f.read_text(encoding="utf-8")
        rid = re.search(r"^id:\s*['\"]?([^\s'\"#]+)", text, re.M)
        lang = re.search(r"^language:\s*['\"]?([^\s'\"#]+)", text, re.M)
        if not rid or not lang:
            raise HarnessError(f"{f}: no top-level id/language")
        if rid.group(1) in rules:
            raise HarnessError(f"{f}: duplicate rule id {rid.group(1)}")
        rules[rid.group(1)] = lang.group(1)
    if not rules:
        raise HarnessError(f"no rules in {RULES_DIR}")
    return rules


def rules_digest() -> str:
    h = hashlib.sha256()
    for f in sorted(RULES_DIR.glob("*.y*ml")) + [SGCONFIG]:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


# -------------------------------------------------------------------------- ast-grep --
def tool_version(exe: str) -> str | None:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"(\d+\.\d+\.\d+)", out.stdout)
    return m.group(1) if out.returncode == 0 and m else None


def find_ast_grep(explicit: str | None, venv: Path) -> str:
    if explicit:
        v = tool_version(explicit)
        if v != AST_GREP_VERSION:
            log(f"warning: {explicit} reports version {v}, expected {AST_GREP_VERSION}")
        return explicit
    on_path = shutil.which("ast-grep")  # never `sg`: on Linux that is often shadow-utils
    if on_path and tool_version(on_path) == AST_GREP_VERSION:
        return on_path
    exe = venv / "bin" / "ast-grep"
    if exe.exists() and tool_version(str(exe)) == AST_GREP_VERSION:
        return str(exe)
    log(f"installing ast-grep-cli=={AST_GREP_VERSION} with pip into {venv}")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", f"ast-grep-cli=={AST_GREP_VERSION}"],
                       check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise HarnessError(f"cannot install ast-grep into {venv}: {e}") from e
    if tool_version(str(exe)) != AST_GREP_VERSION:
        raise HarnessError(f"{exe} is not ast-grep {AST_GREP_VERSION}")
    return str(exe)


def run_ast_grep(exe: str, scan_base: Path, corpus: str, rule_ids: list[str] | None,
                 threads: int | None) -> list[dict]:
    cmd = [exe, "scan", "--config", str(SGCONFIG), "--json=stream", "--color", "never"]
    if threads:
        cmd += ["--threads", str(threads)]
    if rule_ids is not None:
        cmd += ["--filter", "^(" + "|".join(re.escape(r) for r in rule_ids) + ")$"]
    cmd.append(corpus)
    log(f"(cd {scan_base} && {' '.join(_q(c) for c in cmd)})")
    proc = subprocess.run(cmd, cwd=scan_base, capture_output=True)
    stderr = proc.stderr.decode("utf-8", "replace")
    # ast-grep exits 1 when an `error` severity rule fired; that is not a failure.
    problems = [ln for ln in stderr.splitlines()
                if ln.startswith("Error:") and not re.search(r"error\(s\) found in code", ln)]
    if proc.returncode not in (0, 1) or problems:
        raise HarnessError(f"ast-grep failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    out = []
    for n, line in enumerate(proc.stdout.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise HarnessError(f"ast-grep output line {n} is not JSON: {e}: {line[:200]}") from e
    return out


def ast_grep_keys(matches: list[dict], scan_base: Path, corpus: str) -> list[Key]:
    keys = []
    for m in matches:
        try:
            path = normalise(m["file"], scan_base, corpus)
            off = m["range"]["byteOffset"]
            keys.append((m["ruleId"], path, int(off["start"]), int(off["end"])))
        except (KeyError, TypeError, ValueError) as e:
            raise HarnessError(f"unexpected ast-grep match object ({e}): {str(m)[:300]}") from e
    return keys


# -------------------------------------------------------------------------- volatile --
def run_volatile(exe: str, scan_base: Path, corpus: str, rule_ids: list[str] | None,
                 threads: int | None) -> tuple[list[Key], list]:
    cmd = [exe, "scan", "--rules", str(RULES_DIR), "--format", "json", "--fail-on", "never"]
    if threads:
        cmd += ["--threads", str(threads)]
    for r in rule_ids or []:
        cmd += ["--rule", r]
    cmd.append(corpus)
    log(f"(cd {scan_base} && {' '.join(_q(c) for c in cmd)})")
    try:
        proc = subprocess.run(cmd, cwd=scan_base, capture_output=True)
    except OSError as e:
        raise HarnessError(f"cannot run volatile ({exe}): {e}") from e
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise HarnessError(f"volatile failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise HarnessError(f"volatile output is not JSON: {e}: "
                           f"{proc.stdout[:300]!r}\n{stderr[-2000:]}") from e
    keys = []
    for f in report.get("findings", []):
        try:
            br = f["byte_range"]
            keys.append((f["rule_id"], normalise(f["path"], scan_base, corpus),
                         int(br["start"]), int(br["end"])))
        except (KeyError, TypeError, ValueError) as e:
            raise HarnessError(f"unexpected volatile finding ({e}): {str(f)[:300]}") from e
    return keys, report.get("errors", []) or []


# ---------------------------------------------------------------------------- paths --
def _q(s: str) -> str:
    return s if re.fullmatch(r"[\w@%+=:,./-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def normalise(path: str, scan_base: Path, corpus: str) -> str:
    """A reported path -> 'corpus/...' relative to the corpora (scan base) directory.

    Accepts absolute paths, paths relative to the working directory (which is the
    scan base), and paths relative to the scanned corpus directory."""
    p = path.replace("\\", "/")
    if os.path.isabs(p):
        full = os.path.normpath(p)
    else:
        as_given = os.path.normpath(os.path.join(scan_base, p))
        in_corpus = os.path.normpath(os.path.join(scan_base, corpus, p))
        full = as_given
        if not os.path.exists(as_given) and os.path.exists(in_corpus):
            full = in_corpus
    rel = os.path.relpath(full, scan_base)
    return rel.replace(os.sep, "/")


# ------------------------------------------------------------------- --limit-files --
def stage_limited(corpora: Path, corpus: str, limit: int, dest: Path) -> int:
    """Copy `limit` source files of `corpus`, spread evenly over the sorted list of
    candidate files, to dest/corpus/... (same relative paths).  Skips what ast-grep's
    walker skips by default: hidden directories and symbolic links."""
    exts = SOURCE_EXTS[corpus]
    root = corpora / CORPORA[corpus]
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and not os.path.islink(os.path.join(dirpath, d)))
        for name in filenames:
            full = os.path.join(dirpath, name)
            if name.endswith(exts) and not os.path.islink(full):
                files.append(os.path.relpath(full, corpora))
    files.sort()
    if limit < len(files):
        step = len(files) / limit
        files = [files[int(i * step)] for i in range(limit)]
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpora / rel, target)
    return len(files)


# --------------------------------------------------------------------------- report --
class SourceCache:
    def __init__(self, base: Path):
        self.base = base
        self.cache: dict[str, bytes | None] = {}

    def line_of(self, path: str, start: int) -> tuple[int, int, str]:
        if path not in self.cache:
            try:
                self.cache[path] = (self.base / path).read_bytes()
            except OSError:
                self.cache[path] = None
        data = self.cache[path]
        if data is None:
            return 0, 0, "<file not readable>"
        start = max(0, min(start, len(data)))
        line_start = data.rfind(b"\n", 0, start) + 1
        line_end = data.find(b"\n", start)
        line_end = len(data) if line_end < 0 else line_end
        line_no = data.count(b"\n", 0, start) + 1
        col = len(data[line_start:start].decode("utf-8", "replace")) + 1
        text = data[line_start:line_end].decode("utf-8", "replace").rstrip("\r").strip()
        if len(text) > 160:
            text = text[:157] + "..."
        return line_no, col, text


def in_common_scope(key: Key) -> bool:
    """Whether both tools scan the file of `key` at all.

    The walkers differ on purpose in two ways, documented in the project README:
    Volatile detects extension-less scripts by their shebang (ast-grep picks languages by
    extension only), and Volatile skips hidden files like ripgrep (ast-grep skips hidden
    directories but scans hidden files).  Findings in such files are left out of the
    comparison on both sides; the matching itself is what is compared.
    """
    name = key[1].rsplit("/", 1)[-1]
    return "." in name.lstrip(".") and not name.startswith(".")


def report(rules: dict[str, str], sg: set[Key], vol: set[Key], sources: SourceCache,
           dup_sg: int, dup_vol: int) -> bool:
    sg = {k for k in sg if in_common_scope(k)}
    vol = {k for k in vol if in_common_scope(k)}
    by_rule_sg = collections.defaultdict(set)
    by_rule_vol = collections.defaultdict(set)
    for k in sg:
        by_rule_sg[k[0]].add(k)
    for k in vol:
        by_rule_vol[k[0]].add(k)
    ids = list(rules) + sorted((set(by_rule_sg) | set(by_rule_vol)) - set(rules))
    width = max(len(i) for i in ids)
    head = (f"{'rule':<{width}}  {'language':<10} {'ast-grep':>9} {'volatile':>9} "
            f"{'only-sg':>8} {'only-vol':>8}  status")
    print(head)
    print("-" * len(head))
    ok_all = True
    details = []
    for rid in ids:
        a, b = by_rule_sg.get(rid, set()), by_rule_vol.get(rid, set())
        only_a, only_b = sorted(a - b), sorted(b - a)
        if not only_a and not only_b:
            status = "ok" if a else "ok (no findings)"
        elif rid in KNOWN_DIFFERENCES:
            status = "KNOWN DIFFERENCE"
        else:
            status = "DIFFERENT"
            ok_all = False
        if rid not in rules:
            status += " (rule not in rules/)"
        print(f"{rid:<{width}}  {rules.get(rid, '?'):<10} {len(a):>9} {len(b):>9} "
              f"{len(only_a):>8} {len(only_b):>8}  {status}")
        if only_a or only_b:
            details.append((rid, only_a, only_b))
    print("-" * len(head))
    print(f"{'total':<{width}}  {'':<10} {len(sg):>9} {len(vol):>9} "
          f"{len(sg - vol):>8} {len(vol - sg):>8}")
    if dup_sg or dup_vol:
        print(f"note: duplicate findings collapsed: ast-grep {dup_sg}, volatile {dup_vol}")

    for rid, only_a, only_b in details:
        print()
        reason = KNOWN_DIFFERENCES.get(rid)
        print(f"== {rid}" + (f"  (known difference: {reason})" if reason else ""))
        for label, items in (("only in ast-grep", only_a), ("only in volatile", only_b)):
            if not items:
                continue
            print(f"   {label}: {len(items)}")
            for _, path, s, e in items[:EXAMPLES]:
                line, col, text = sources.line_of(path, s)
                print(f"     {path}:{line}:{col} bytes [{s}, {e})  {text}")
            if len(items) > EXAMPLES:
                print(f"     ... and {len(items) - EXAMPLES} more")
    return ok_all


# ----------------------------------------------------------------------------- main --
def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path,
                    default=Path(os.environ.get("CORPORA_DIR") or "/work/corpora"),
                    help="corpora directory made by fetch-corpora.sh "
                         "(default: $CORPORA_DIR or /work/corpora)")
    ap.add_argument("--volatile", default=str(REPO_ROOT / "target" / "release" / "volatile"),
                    help="volatile binary (default: target/release/volatile)")
    ap.add_argument("--ast-grep", dest="ast_grep",
                    help=f"ast-grep {AST_GREP_VERSION} binary (default: `ast-grep` on PATH if it "
                         f"is {AST_GREP_VERSION}, else one pip-installed into --venv)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV,
                    help="where to pip-install ast-grep when needed (default: %(default)s)")
    ap.add_argument("--lang", action="append", default=[],
                    help="only this language family: python, typescript (ts/tsx/javascript/js) "
                         "or java; repeatable or comma-separated")
    ap.add_argument("--limit-files", type=int, metavar="N",
                    help="scan only N source files per corpus (spread evenly, copied to a "
                         "temporary directory)")
    ap.add_argument("--threads", type=int, help="worker threads for both tools")
    ap.add_argument("--dump-sg", type=Path, metavar="FILE",
                    help="save ast-grep's normalised finding set as JSON")
    ap.add_argument("--load-sg", type=Path, metavar="FILE",
                    help="use a set saved by --dump-sg instead of running ast-grep")
    ap.add_argument("--sg-only", action="store_true",
                    help="run only ast-grep (print per-rule counts; with --dump-sg to cache)")
    args = ap.parse_args(argv)

    try:
        return run(args)
    except HarnessError as e:
        log(f"ERROR: {e}")
        return 2


def run(args: argparse.Namespace) -> int:
    rules = load_rules()
    langs = set()
    for item in args.lang:
        for name in item.split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in LANG_ALIASES:
                raise HarnessError(f"unknown --lang {name} (python, typescript, java)")
            langs.add(LANG_ALIASES[name])
    corpora_sel = [c for c in CORPORA if not langs or c in langs]
    if langs:
        rules = {r: l for r, l in rules.items() if FAMILY.get(l.lower()) in langs}
        rule_filter: list[str] | None = sorted(rules)
    else:
        rule_filter = None

    corpora = args.corpora.resolve()
    for c in corpora_sel:
        if not (corpora / CORPORA[c]).is_dir():
            raise HarnessError(f"{corpora / CORPORA[c]} missing; run "
                               f"fetch-corpora.sh {corpora} {c}")

    settings = {"langs": sorted(langs), "limit_files": args.limit_files,
                "corpora": corpora_sel, "rules_sha256": rules_digest()}

    tmp = None
    scan_base = corpora
    if args.limit_files:
        # outside any git work tree, so no enclosing .gitignore applies to the copy
        tmp = Path(tempfile.mkdtemp(prefix="volatile-differential-"))
        scan_base = tmp
        for c in corpora_sel:
            n = stage_limited(corpora, c, args.limit_files, tmp)
            log(f"{c}: staged {n} files in {tmp / CORPORA[c]}")
    try:
        return compare(args, rules, rule_filter, corpora_sel, scan_base, settings)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def keep(keys: list[Key], rules: dict[str, str], filtered: bool) -> list[Key]:
    return [k for k in keys if k[0] in rules] if filtered else keys


def compare(args, rules, rule_filter, corpora_sel, scan_base: Path, settings) -> int:
    filtered = rule_filter is not None
    # ---- ast-grep side
    sg_keys: list[Key] = []
    if args.load_sg:
        saved = json.loads(args.load_sg.read_text(encoding="utf-8"))
        for k in ("langs", "limit_files", "corpora", "rules_sha256"):
            if saved.get(k) != settings[k]:
                raise HarnessError(f"{args.load_sg}: saved with {k}={saved.get(k)!r}, "
                                   f"this run has {settings[k]!r}; re-create it with --dump-sg")
        sg_keys = [tuple(k) for k in saved["findings"]]
        log(f"ast-grep: loaded {len(sg_keys)} findings from {args.load_sg}")
    else:
        exe = find_ast_grep(args.ast_grep, args.venv)
        for c in corpora_sel:
            t0 = time.monotonic()
            matches = run_ast_grep(exe, scan_base, CORPORA[c], rule_filter, args.threads)
            keys = keep(ast_grep_keys(matches, scan_base, CORPORA[c]), rules, filtered)
            log(f"ast-grep: {c}: {len(keys)} findings in {time.monotonic() - t0:.1f} s")
            sg_keys += keys
        if args.dump_sg:
            head = json.dumps(dict(settings, ast_grep_version=tool_version(exe)))
            rows = ",\n".join(json.dumps(list(k)) for k in sorted(set(sg_keys)))
            args.dump_sg.parent.mkdir(parents=True, exist_ok=True)
            args.dump_sg.write_text(head[:-1] + ', "findings": [\n' + rows + "\n]}\n",
                                    encoding="utf-8")
            log(f"ast-grep: saved {len(set(sg_keys))} findings to {args.dump_sg}")

    if args.sg_only:
        counts = collections.Counter(k[0] for k in set(sg_keys))
        width = max(len(r) for r in rules)
        for rid, lang in rules.items():
            print(f"{rid:<{width}}  {lang:<10} {counts.get(rid, 0):>7}")
        print(f"{'total':<{width}}  {'':<10} {len(set(sg_keys)):>7}")
        return 0

    # ---- volatile side
    vol_exe = args.volatile
    if not (os.path.isfile(vol_exe) and os.access(vol_exe, os.X_OK)) and not shutil.which(vol_exe):
        raise HarnessError(f"volatile binary {vol_exe} not found; build it with "
                           f"`cargo build --release -p volatile-server` or pass --volatile")
    vol_keys: list[Key] = []
    errors: list = []
    for c in corpora_sel:
        t0 = time.monotonic()
        keys, errs = run_volatile(vol_exe, scan_base, CORPORA[c], rule_filter, args.threads)
        keys = keep(keys, rules, filtered)
        log(f"volatile: {c}: {len(keys)} findings, {len(errs)} file errors "
            f"in {time.monotonic() - t0:.1f} s")
        vol_keys += keys
        errors += errs
    if errors:
        log(f"volatile reported {len(errors)} file errors, e.g.:")
        for e in errors[:5]:
            log(f"  {json.dumps(e)[:300]}")

    sg_set, vol_set = set(sg_keys), set(vol_keys)
    ok = report(rules, sg_set, vol_set, SourceCache(scan_base),
                len(sg_keys) - len(sg_set), len(vol_keys) - len(vol_set))
    print()
    print("RESULT: " + ("the finding sets agree" if ok else "the finding sets DIFFER"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
