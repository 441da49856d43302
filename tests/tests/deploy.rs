//! What the Kubernetes deployment (`deploy/k8s/`) relies on, checked against the real
//! binary: a `--playbooks` directory laid out the way the kubelet mounts a ConfigMap whose
//! `items` give nested paths is served, and the kubelet's atomic update of that mount
//! reloads it.
//!
//! The kubelet writes every version of a ConfigMap volume into a hidden timestamped
//! directory (`..2026_11_23_10_00_00.123456789/team/style/r.yml`), points `..data` at it,
//! and shows each top-level entry through a symlink (`team -> ..data/team`). An update
//! writes a new timestamped directory, makes a `..data_tmp` symlink to it, renames that over
//! `..data` (the one atomic step), adds symlinks for new top-level entries, removes those of
//! entries gone, and deletes the old directory. No file the server reads is modified in
//! place: only the rename of `..data` changes what it sees.

#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use volatile_tests::server::Server;
use volatile_tests::{temp_dir, write_files};

/// A directory laid out like a ConfigMap volume, updated the way the kubelet updates it.
struct ConfigMapMount {
    root: PathBuf,
    /// The timestamped directory `..data` points at.
    current: String,
    /// The top-level entries shown through symlinks.
    visible: Vec<String>,
    generation: u32,
}

impl ConfigMapMount {
    /// Mounts `files` (path in the volume, content): the first version.
    fn new(root: &Path, files: &[(&str, &str)]) -> ConfigMapMount {
        mkdir(root);
        let mut mount = ConfigMapMount {
            root: root.to_path_buf(),
            current: String::new(),
            visible: Vec::new(),
            generation: 0,
        };
        let first = mount.write_version(files);
        link(&first, &root.join("..data"));
        mount.current = first;
        mount.show(files);
        mount
    }

    /// Writes a new version into its own timestamped directory, as the kubelet does before
    /// the swap; the served files do not change yet.
    fn write_version(&mut self, files: &[(&str, &str)]) -> String {
        self.generation += 1;
        let name = format!(
            "..2026_11_23_10_00_{:02}.{}",
            self.generation,
            100_000_000 + self.generation * 7_919
        );
        write_files(&self.root.join(&name), files);
        name
    }

    /// The atomic swap: `..data_tmp -> NEW`, renamed over `..data`; then the top-level
    /// symlinks are brought in line and the old version is deleted.
    fn publish(&mut self, version: String, files: &[(&str, &str)]) {
        let tmp = self.root.join("..data_tmp");
        link(&version, &tmp);
        if let Err(e) = std::fs::rename(&tmp, self.root.join("..data")) {
            panic!("rename ..data_tmp over ..data: {e}");
        }
        self.show(files);
        let old = std::mem::replace(&mut self.current, version);
        if let Err(e) = std::fs::remove_dir_all(self.root.join(&old)) {
            panic!("remove {old}: {e}");
        }
    }

    /// `name -> ..data/name` for each top-level entry of `files`; removes the others.
    fn show(&mut self, files: &[(&str, &str)]) {
        let mut wanted: Vec<String> = files
            .iter()
            .filter_map(|(path, _)| path.split('/').next().map(String::from))
            .collect();
        wanted.sort();
        wanted.dedup();
        for name in &wanted {
            if !self.visible.contains(name) {
                link(&format!("..data/{name}"), &self.root.join(name));
            }
        }
        for name in &self.visible {
            if !wanted.contains(name)
                && let Err(e) = std::fs::remove_file(self.root.join(name))
            {
                panic!("remove the symlink {name}: {e}");
            }
        }
        self.visible = wanted;
    }
}

fn mkdir(dir: &Path) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        panic!("mkdir {}: {e}", dir.display());
    }
}

fn link(target: &str, at: &Path) {
    if let Err(e) = symlink(target, at) {
        panic!("symlink {} -> {target}: {e}", at.display());
    }
}

fn rule(id: &str, pattern: &str) -> String {
    format!("id: {id}\nlanguage: python\nseverity: warning\nrule:\n  pattern: {pattern}\n")
}

fn get(server: &Server, path: &str) -> Value {
    match server.client(false).get(server.url(path)).send() {
        Ok(r) if r.status().as_u16() == 200 => r.json().unwrap_or(Value::Null),
        Ok(r) => panic!("GET {path}: {}", r.status()),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// The rule ids found in `print(1)\ninput()\n`, with the default playbooks.
fn finding_ids(server: &Server) -> Vec<String> {
    let body = json!({"files": [{"path": "a.py", "content": "print(1)\ninput()\n"}]});
    let answer: Value = match server
        .client(false)
        .post(server.url("/v1/analyze"))
        .json(&body)
        .send()
    {
        Ok(r) if r.status().as_u16() == 200 => r.json().unwrap_or(Value::Null),
        Ok(r) => panic!("POST /v1/analyze: {}", r.status()),
        Err(e) => panic!("POST /v1/analyze: {e}"),
    };
    let mut ids: Vec<String> = answer["files"][0]["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["rule_id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn playbook_ids(server: &Server) -> Vec<String> {
    get(server, "/v1/playbooks")["playbooks"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|p| p["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `probe` until it returns `want` or 15 s pass; returns the last value seen.
fn wait_for<T: PartialEq>(want: &T, mut probe: impl FnMut() -> T) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let seen = probe();
        if &seen == want || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_configmap_mount_is_served_and_its_data_swap_reloads_it() {
    let dir = temp_dir();
    let root = dir.path().join("playbooks");
    let v1 = rule("no-print", "print($A)");
    let files_v1 = [
        ("team/playbook.yml", "id: team\nname: Team\n"),
        ("team/style/r.yml", v1.as_str()),
    ];
    let mut mount = ConfigMapMount::new(&root, &files_v1);
    let playbooks = root.display().to_string();
    let server = Server::start(dir.path(), &["--playbooks", &playbooks]);

    // Served through the symlinks; the hidden `..data` and `..2026_*` entries are not
    // playbooks, and the standard comes from the nested path.
    assert_eq!(playbook_ids(&server), ["team"]);
    let team = get(&server, "/v1/playbooks/team");
    assert_eq!(team["rule_details"][0]["id"], "no-print", "{team}");
    assert_eq!(team["rule_details"][0]["standard"], "style", "{team}");
    assert_eq!(finding_ids(&server), ["no-print"]);

    // The kubelet writes the new version first. Its writes wake the watcher, but what it
    // reloads is still the old version: `..data` has not moved.
    let v2 = rule("no-input", "input()");
    let files_v2 = [
        ("team/playbook.yml", "id: team\nname: Team\n"),
        ("team/style/r.yml", v2.as_str()),
    ];
    let version = mount.write_version(&files_v2);
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        finding_ids(&server),
        ["no-print"],
        "nothing may change before the ..data swap"
    );

    // The swap alone must trigger the reload.
    mount.publish(version, &files_v2);
    let want = vec!["no-input".to_string()];
    assert_eq!(
        wait_for(&want, || finding_ids(&server)),
        want,
        "the ..data swap was not picked up"
    );

    // A second update, quick as the kubelet's, that adds a playbook (a new top-level
    // symlink): the watch survived the deletion of the first version's directory.
    let v3 = rule("no-exec", "exec($A)");
    let files_v3 = [
        ("security/playbook.yml", "id: security\n"),
        ("security/injection/exec.yml", v3.as_str()),
        ("team/playbook.yml", "id: team\nname: Team\n"),
        ("team/style/r.yml", v2.as_str()),
    ];
    let version = mount.write_version(&files_v3);
    mount.publish(version, &files_v3);
    let want = vec!["security".to_string(), "team".to_string()];
    assert_eq!(
        wait_for(&want, || {
            let mut ids = playbook_ids(&server);
            ids.sort();
            ids
        }),
        want,
        "the second ..data swap was not picked up"
    );
    let security = get(&server, "/v1/playbooks/security");
    assert_eq!(
        security["rule_details"][0]["standard"], "injection",
        "{security}"
    );

    // Only the last version is left on disk, as the kubelet leaves it.
    let hidden: Vec<String> = std::fs::read_dir(&root)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("..2026"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(hidden, [mount.current.clone()]);
}
