#!/usr/bin/env python3
"""Generates a large playbook from the example rules of one language, for the playbook-size
benchmark (`benches/compare.sh`).

Each generated rule is an example rule with the identifiers and literal words of its
patterns and regexes replaced by identifiers drawn from a real corpus, weighted by how
often they occur there. So the rules are distinct, shaped like real rules (same kinds,
relations, constraints and utils), and their literals occur in real code at realistic
rates: common names often, rare ones rarely. Raw `query:` rules are left out (their text
is node names, not code). Examples are dropped (a varied rule no longer matches them).

    benches/gen-rules.py TEMPLATES_DIR CORPUS_DIR OUT_DIR COUNT [--ext .py] [--seed N]

Deterministic for a given seed, templates and corpus.
"""
import argparse
import collections
import copy
import keyword
import os
import random
import re

import yaml

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words no generated rule may use as an identifier: they are syntax in one of the
# languages, or names the rule format gives meaning to.
RESERVED = set(keyword.kwlist) | set(keyword.softkwlist) | {
    "abstract", "assert", "boolean", "break", "byte", "case", "catch", "char", "class",
    "const", "continue", "debugger", "default", "delete", "do", "double", "else", "enum",
    "export", "extends", "false", "final", "finally", "float", "for", "function", "goto",
    "if", "implements", "import", "in", "instanceof", "int", "interface", "let", "long",
    "native", "new", "null", "package", "private", "protected", "public", "return",
    "short", "static", "super", "switch", "synchronized", "this", "throw", "throws",
    "transient", "true", "try", "typeof", "var", "void", "volatile", "while", "with",
    "yield", "async", "await", "of", "any", "as", "declare", "from", "get", "set", "type",
    "readonly", "self", "cls", "print", "exec", "eval", "None", "True", "False",
    "undefined", "NaN", "Infinity", "keyof", "never", "unknown", "string", "number",
    "object", "symbol", "bigint", "is", "not", "and", "or", "lambda", "def", "del",
    "global", "nonlocal", "pass", "raise", "elif", "except", "match",
}
# Keys whose string values are code or regexes to vary.
CODE_KEYS = {"pattern", "context", "regex"}
# Keys whose values must not be touched (kinds, fields, names).
KEEP_KEYS = {"kind", "field", "selector", "strictness", "stopBy", "matches", "id",
             "language", "languages", "message", "note", "severity", "url", "files",
             "ignores", "metadata", "fix", "transform", "rewriters", "labels"}


def corpus_words(corpus, ext, limit_files=4000):
    counts = collections.Counter()
    files = []
    for root, dirs, names in os.walk(corpus):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(ext))
    for path in files[:limit_files]:
        try:
            with open(path, encoding="utf-8", errors="ignore") as f:
                counts.update(IDENT.findall(f.read()))
        except OSError:
            continue
    words = [(w, c) for w, c in counts.items() if len(w) >= 3 and w not in RESERVED]
    words.sort(key=lambda wc: (-wc[1], wc[0]))
    return words[:20000]


class Varier:
    def __init__(self, words, rng):
        self.words = [w for w, _ in words]
        self.weights = [c for _, c in words]
        self.rng = rng

    def word(self):
        return self.rng.choices(self.words, weights=self.weights, k=1)[0]

    def code(self, text):
        """Replaces identifiers, keeping metavariables, reserved words and kinds of
        punctuation; the same identifier maps to the same word within one text."""
        mapping = {}

        def sub(m):
            start = m.start()
            if start > 0 and text[start - 1] in "$µ":
                return m.group(0)
            w = m.group(0)
            if w in RESERVED or w.isupper() and len(w) <= 3:
                return w
            if w not in mapping:
                mapping[w] = self.word()
            return mapping[w]

        return IDENT.sub(sub, text)

    def regex(self, text):
        """Replaces the plain words of a regex (not escapes, classes or flags)."""
        out, i, mapping = [], 0, {}
        while i < len(text):
            c = text[i]
            if c == "\\":
                out.append(text[i:i + 2])
                i += 2
            elif c == "[":
                j = i + 1
                while j < len(text) and text[j] != "]":
                    j += 2 if text[j] == "\\" else 1
                out.append(text[i:j + 1])
                i = j + 1
            elif c == "(" and text[i + 1:i + 2] == "?":
                j = i + 2
                while j < len(text) and text[j].isalpha():
                    j += 1
                out.append(text[i:j])
                i = j
            elif c == "{":
                j = text.find("}", i)
                j = len(text) - 1 if j < 0 else j
                out.append(text[i:j + 1])
                i = j + 1
            else:
                m = IDENT.match(text, i)
                if m and len(m.group(0)) >= 3 and m.group(0) not in RESERVED:
                    w = m.group(0)
                    mapping.setdefault(w, self.word())
                    out.append(re.escape(mapping[w]))
                    i = m.end()
                elif m:
                    out.append(m.group(0))
                    i = m.end()
                else:
                    out.append(c)
                    i += 1
        return "".join(out)

    def walk(self, node, key=None):
        if isinstance(node, dict):
            return {k: (v if k in KEEP_KEYS else self.walk(v, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [self.walk(v, key) for v in node]
        if isinstance(node, str) and key in ("pattern", "context"):
            return self.code(node)
        if isinstance(node, str) and key == "regex":
            return self.regex(node)
        return node


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("templates")
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("count", type=int)
    ap.add_argument("--ext", default=".py")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    templates = []
    for root, dirs, names in os.walk(args.templates):
        dirs.sort()
        for n in sorted(names):
            if n.endswith(".yml") and not n.endswith("-test.yml"):
                with open(os.path.join(root, n)) as f:
                    for doc in yaml.safe_load_all(f):
                        if isinstance(doc, dict) and "rule" in doc and "query" not in doc:
                            templates.append(doc)
    if not templates:
        raise SystemExit("no templates")
    varier = Varier(corpus_words(args.corpus, args.ext), random.Random(args.seed))
    os.makedirs(args.out, exist_ok=True)
    # Every rule must be distinct: a template with nothing to vary (only kinds, fields and
    # relations) gives one rule, and is then dropped, as is one that keeps repeating itself.
    seen, misses = set(), collections.Counter()
    live = list(templates)
    i = 0
    while i < args.count:
        if not live:
            raise SystemExit(f"only {i} distinct rules can be made from these templates")
        t = live[i % len(live)]
        rule = varier.walk(copy.deepcopy(t))
        rule.pop("examples", None)
        rule.pop("fix", None)
        rule.pop("id", None)
        body = yaml.safe_dump(rule, sort_keys=True)
        if body in seen:
            misses[t["id"]] += 1
            if misses[t["id"]] >= 3:
                live.remove(t)
            continue
        seen.add(body)
        rule = {"id": f"{t['id']}-{i:04d}", **rule}
        with open(os.path.join(args.out, f"{rule['id']}.yml"), "w") as f:
            yaml.safe_dump(rule, f, sort_keys=False, allow_unicode=True)
        i += 1
    print(f"{args.count} distinct rules from {len(templates)} templates in {args.out}")


if __name__ == "__main__":
    main()
