#!/usr/bin/env bash
# Writes the HTTP benchmarks' request into DIR: sample.ts (a deterministic 300-line
# TypeScript module with a few findings), body.json (the /v1/analyze request for it) and
# post.lua (the wrk script that posts it).
#
#   benches/http-sample.sh DIR
set -euo pipefail
work="${1:?usage: benches/http-sample.sh DIR}"
python3 - "$work/sample.ts" <<'PY'
import sys
lines = ["import { Request, Response } from 'express';", "import * as fs from 'fs';", ""]
i = 0
while len(lines) < 297:
    lines += [
        f"export interface Order{i} {{ id: string; total: number; items: string[] }}",
        f"export class OrderService{i} {{",
        f"  private cache = new Map<string, Order{i}>();",
        f"  async load(id: string): Promise<Order{i} | undefined> {{",
        f"    if (this.cache.has(id)) {{ return this.cache.get(id); }}",
        f"    const raw = await fs.promises.readFile(`orders/${{id}}.json`, 'utf8');",
        f"    const order = JSON.parse(raw) as Order{i};",
        f"    this.cache.set(id, order);",
        f"    return order;",
        f"  }}",
        f"  total(orders: Order{i}[]): number {{",
        f"    return orders.reduce((sum, o) => sum + o.total, 0);",
        f"  }}",
        f"}}",
        f"export function handler{i}(req: Request, res: Response) {{",
        f"  const filter: any = req.query.filter;",
        f"  if (filter == null) {{ res.status(400).send('missing filter'); return; }}",
        f"  if (req.query.debug) {{ eval(String(req.query.debug)); }}",
        f"  res.json({{ ok: true, filter }});",
        f"}}",
        "",
    ]
    i += 1
lines = lines[:300]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
python3 - "$work/sample.ts" "$work/body.json" <<'PY'
import json, sys
content = open(sys.argv[1]).read()
json.dump({"files": [{"path": "src/orders.ts", "content": content}]}, open(sys.argv[2], "w"))
PY
cat > "$work/post.lua" <<LUA
local f = io.open("$work/body.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA
