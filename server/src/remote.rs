//! A client of a running Volatile service, for `scan --server` and `lsp --server`: the
//! engine stays remote, the files travel in batches that fit the service's limits.
//!
//! Batches are cut from the limits the service publishes at `GET /v1/info` (files per
//! request, body bytes, bytes per file), sent gzip-compressed, a few at a time. A refusal
//! for load (503 or 429) is retried after the `Retry-After` it names; a body the service
//! still finds too large (413) is split in two. A file over the per-file limit is never
//! sent: it gets the `too_large` error the service would give. Answers come back in the
//! order of the files.
//!
//! Error messages name the service and the status, never file contents.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use serde::Serialize;
use volatile_engine::finding::{FileError, FileErrorCode, Finding};
use volatile_grammars::Lang;

use crate::http::api::{AnalyzeResponse, ErrorBody, InfoResponse, LimitsInfo};

/// How to reach the service.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// The service's base URL, e.g. `https://volatile.internal:8443`.
    pub url: String,
    /// Sent as `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// A PEM certificate to trust besides the system's roots (a private CA, a dev cert).
    pub ca_cert: Option<PathBuf>,
    /// The served playbook to apply (default: the service's defaults).
    pub playbook: Option<String>,
    /// The time one request may take, sending and answering.
    pub timeout: Duration,
}

/// One file to analyse remotely.
#[derive(Debug, Clone)]
pub struct RemoteFile {
    /// The path the findings will carry (a label; the service never opens it).
    pub path: String,
    /// The language, or `None` to let the service pick it by the path.
    pub language: Option<Lang>,
    /// The text.
    pub content: String,
    /// 1-based inclusive line ranges: only findings touching them are kept.
    pub changed_lines: Option<Vec<(u32, u32)>>,
}

/// The service's answer for one file.
#[derive(Debug, Clone)]
pub struct RemoteResult {
    /// The path, as sent.
    pub path: String,
    /// The findings, sorted.
    pub findings: Vec<Finding>,
    /// Why the file was not (fully) analysed.
    pub error: Option<FileError>,
}

/// A connection to a running service.
pub struct Remote {
    client: Client,
    base: String,
    options: RemoteOptions,
    limits: OnceLock<LimitsInfo>,
}

/// Requests in flight at once.
const CONCURRENCY: usize = 4;

/// Attempts of one batch refused for load before giving up.
const ATTEMPTS: u32 = 6;

/// The longest wait a `Retry-After` is honoured for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Bytes of the request envelope around the files, with room to spare.
const ENVELOPE_BYTES: usize = 1024;

impl Remote {
    /// A client for the service at `options.url`; nothing is sent yet.
    pub fn new(options: RemoteOptions) -> Result<Remote, String> {
        let base = options.url.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!("--server {base}: not an http:// or https:// URL"));
        }
        let mut builder = Client::builder()
            .use_rustls_tls()
            .timeout(options.timeout)
            .connect_timeout(Duration::from_secs(10));
        if let Some(path) = &options.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| format!("{}: cannot read the certificate: {e}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Remote {
            client,
            base,
            options,
            limits: OnceLock::new(),
        })
    }

    /// The service's request limits (`GET /v1/info`, asked once).
    pub fn limits(&self) -> Result<&LimitsInfo, String> {
        if let Some(limits) = self.limits.get() {
            return Ok(limits);
        }
        let response = self.send(|| self.authorised(self.client.get(self.url("/v1/info"))))?;
        let info: InfoResponse = response
            .json()
            .map_err(|e| format!("{}: unexpected /v1/info answer: {e}", self.base))?;
        Ok(self.limits.get_or_init(|| info.limits))
    }

    /// Analyses `files` with the service, in batches; results are in the order of `files`.
    /// `rules` limits the run to those rule ids (empty: all).
    pub fn analyze(
        &self,
        files: Vec<RemoteFile>,
        rules: &[String],
    ) -> Result<Vec<RemoteResult>, String> {
        let limits = self.limits()?.clone();
        let mut results: Vec<Option<RemoteResult>> = vec![None; files.len()];
        let mut encoded = Vec::with_capacity(files.len());
        for (index, file) in files.iter().enumerate() {
            if file.content.len() > limits.max_file_bytes {
                results[index] = Some(too_large(file, limits.max_file_bytes));
                continue;
            }
            let json = serde_json::to_vec(&WireFile::of(file))
                .map_err(|e| format!("cannot encode a request: {e}"))?;
            encoded.push((index, json));
        }
        let batches = batches(encoded, &limits);
        let next = AtomicUsize::new(0);
        let outcome: Result<Vec<Vec<(usize, RemoteResult)>>, String> =
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..CONCURRENCY.min(batches.len()))
                    .map(|_| {
                        scope.spawn(|| {
                            let mut done = Vec::new();
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                let Some(batch) = batches.get(i) else { break };
                                done.extend(self.analyze_batch(batch, &files, rules)?);
                            }
                            Ok(done)
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| {
                        w.join()
                            .unwrap_or_else(|_| Err("a request thread panicked".into()))
                    })
                    .collect()
            });
        for (index, result) in outcome?.into_iter().flatten() {
            results[index] = Some(result);
        }
        results
            .into_iter()
            .zip(&files)
            .map(|(r, f)| r.ok_or_else(|| format!("{}: the service left this file out", f.path)))
            .collect()
    }

    /// Sends one batch; a 413 splits it in two, down to single files.
    fn analyze_batch(
        &self,
        batch: &[(usize, Vec<u8>)],
        files: &[RemoteFile],
        rules: &[String],
    ) -> Result<Vec<(usize, RemoteResult)>, String> {
        let body = self.request_body(batch, rules)?;
        let response = self.send(|| {
            self.authorised(self.client.post(self.url("/v1/analyze")))
                .header(CONTENT_TYPE, "application/json")
                .header(CONTENT_ENCODING, "gzip")
                .body(body.clone())
        });
        let response = match response {
            Err(e) if e.starts_with(PAYLOAD_TOO_LARGE) && batch.len() > 1 => {
                let (a, b) = batch.split_at(batch.len() / 2);
                let mut out = self.analyze_batch(a, files, rules)?;
                out.extend(self.analyze_batch(b, files, rules)?);
                return Ok(out);
            }
            Err(e) if e.starts_with(PAYLOAD_TOO_LARGE) => {
                let index = batch.first().map_or(0, |b| b.0);
                let limit = self.limits()?.max_body_bytes;
                return Ok(files
                    .get(index)
                    .map(|f| (index, too_large(f, limit)))
                    .into_iter()
                    .collect());
            }
            other => other?,
        };
        let answer: AnalyzeResponse = response
            .json()
            .map_err(|e| format!("{}: unexpected /v1/analyze answer: {e}", self.base))?;
        if answer.files.len() != batch.len() {
            return Err(format!(
                "{}: answered {} files for {} sent",
                self.base,
                answer.files.len(),
                batch.len()
            ));
        }
        Ok(batch
            .iter()
            .zip(answer.files)
            .map(|(&(index, _), file)| {
                let error = file.error.map(|e| FileError {
                    path: file.path.clone(),
                    code: e.code,
                    message: e.message,
                });
                let result = RemoteResult {
                    path: file.path,
                    findings: file.findings,
                    error,
                };
                (index, result)
            })
            .collect())
    }

    /// The gzip-compressed JSON body of one batch, assembled from pre-encoded files.
    fn request_body(
        &self,
        batch: &[(usize, Vec<u8>)],
        rules: &[String],
    ) -> Result<Vec<u8>, String> {
        let fail = |e: std::io::Error| format!("cannot compress a request: {e}");
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(b"{\"files\":[").map_err(fail)?;
        for (i, (_, json)) in batch.iter().enumerate() {
            if i > 0 {
                gz.write_all(b",").map_err(fail)?;
            }
            gz.write_all(json).map_err(fail)?;
        }
        gz.write_all(b"]").map_err(fail)?;
        let envelope = Envelope {
            playbook: self.options.playbook.as_deref(),
            rules: (!rules.is_empty()).then_some(rules),
        };
        let envelope =
            serde_json::to_vec(&envelope).map_err(|e| format!("cannot encode a request: {e}"))?;
        // `{"playbook":...,"rules":...}` minus its opening brace continues the object.
        if envelope.len() > 2 {
            gz.write_all(b",").map_err(fail)?;
        }
        gz.write_all(envelope.get(1..).unwrap_or(b"}"))
            .map_err(fail)?;
        gz.finish().map_err(fail)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorised(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match &self.options.api_key {
            Some(key) => request.header(AUTHORIZATION, format!("Bearer {key}")),
            None => request,
        }
    }

    /// Sends a request built by `build`, again after `Retry-After` while the service is
    /// overloaded or rate-limiting; any other non-2xx answer is an error naming it.
    fn send(
        &self,
        build: impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<Response, String> {
        let mut attempt = 1;
        loop {
            let response = build()
                .send()
                .map_err(|e| format!("{}: {}", self.base, describe(e)))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retryable = status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::TOO_MANY_REQUESTS;
            if retryable && attempt < ATTEMPTS {
                std::thread::sleep(retry_after(&response, attempt));
                attempt += 1;
                continue;
            }
            let detail = response
                .json::<ErrorBody>()
                .map(|b| format!("{}: {}", b.error.code, b.error.message))
                .unwrap_or_else(|_| "no error body".into());
            let prefix = if status == StatusCode::PAYLOAD_TOO_LARGE {
                PAYLOAD_TOO_LARGE
            } else {
                ""
            };
            return Err(format!(
                "{prefix}{}: answered {status} ({detail})",
                self.base
            ));
        }
    }
}

/// Marks the errors `analyze_batch` splits on.
const PAYLOAD_TOO_LARGE: &str = "413 ";

/// The wait before another attempt: the `Retry-After` seconds, else a doubling backoff.
fn retry_after(response: &Response, attempt: u32) -> Duration {
    response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_millis(250) * 2u32.pow(attempt))
        .min(MAX_RETRY_AFTER)
}

/// A transport error, without the URL reqwest repeats.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn too_large(file: &RemoteFile, limit: usize) -> RemoteResult {
    RemoteResult {
        path: file.path.clone(),
        findings: Vec::new(),
        error: Some(FileError {
            path: file.path.clone(),
            code: FileErrorCode::TooLarge,
            message: format!(
                "{} bytes is over the service's limit of {limit}",
                file.content.len()
            ),
        }),
    }
}

/// Groups encoded files into batches within the service's file count and body size.
fn batches(encoded: Vec<(usize, Vec<u8>)>, limits: &LimitsInfo) -> Vec<Vec<(usize, Vec<u8>)>> {
    let max_files = limits.max_files.max(1);
    let max_bytes = limits.max_body_bytes.saturating_sub(ENVELOPE_BYTES).max(1);
    let mut out: Vec<Vec<(usize, Vec<u8>)>> = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for (index, json) in encoded {
        let size = json.len() + 1;
        if !current.is_empty() && (current.len() >= max_files || bytes + size > max_bytes) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push((index, json));
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One file on the wire.
#[derive(Serialize)]
struct WireFile<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'static str>,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_lines: Option<Vec<[u32; 2]>>,
}

impl<'a> WireFile<'a> {
    fn of(file: &'a RemoteFile) -> Self {
        WireFile {
            path: &file.path,
            language: file.language.map(Lang::name),
            content: &file.content,
            changed_lines: file
                .changed_lines
                .as_ref()
                .map(|r| r.iter().map(|&(s, e)| [s, e]).collect()),
        }
    }
}

/// What surrounds the files in a request.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    playbook: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rules: Option<&'a [String]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_files: usize, max_body_bytes: usize) -> LimitsInfo {
        LimitsInfo {
            max_body_bytes,
            max_files,
            max_file_bytes: 1 << 20,
            deadline_ms: 1000,
            max_findings_per_file: 100,
        }
    }

    fn encoded(sizes: &[usize]) -> Vec<(usize, Vec<u8>)> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (i, vec![b'x'; n]))
            .collect()
    }

    #[test]
    fn batches_respect_file_count_and_bytes() {
        let by_count = batches(encoded(&[1; 10]), &limits(4, 1 << 20));
        let sizes: Vec<usize> = by_count.iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let by_bytes = batches(
            encoded(&[600, 600, 600]),
            &limits(100, ENVELOPE_BYTES + 1300),
        );
        let sizes: Vec<usize> = by_bytes.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 1]);
        // A file alone over the byte budget still travels, alone (the service decides).
        let alone = batches(encoded(&[5000, 1]), &limits(100, ENVELOPE_BYTES + 100));
        let sizes: Vec<usize> = alone.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 1]);
        let order: Vec<usize> = by_count.iter().flatten().map(|b| b.0).collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn request_bodies_are_the_api_envelope() -> Result<(), String> {
        let remote = Remote::new(RemoteOptions {
            url: "http://127.0.0.1:9/".into(),
            api_key: None,
            ca_cert: None,
            playbook: Some("typescript".into()),
            timeout: Duration::from_secs(1),
        })?;
        let file = RemoteFile {
            path: "a.ts".into(),
            language: Some(Lang::TypeScript),
            content: "eval(\"x\")\n".into(),
            changed_lines: Some(vec![(1, 2)]),
        };
        let json = serde_json::to_vec(&WireFile::of(&file)).map_err(|e| e.to_string())?;
        let body = remote.request_body(&[(0, json.clone()), (1, json)], &["no-eval".into()])?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .map_err(|e| e.to_string())?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let file = serde_json::json!({
            "path": "a.ts", "language": "typescript", "content": "eval(\"x\")\n",
            "changed_lines": [[1, 2]],
        });
        let want = serde_json::json!({
            "files": [file.clone(), file], "playbook": "typescript", "rules": ["no-eval"],
        });
        assert_eq!(value, want);
        Ok(())
    }

    #[test]
    fn urls_must_be_http() {
        let options = |url: &str| RemoteOptions {
            url: url.into(),
            api_key: None,
            ca_cert: None,
            playbook: None,
            timeout: Duration::from_secs(1),
        };
        assert!(Remote::new(options("localhost:8443")).is_err());
        assert!(Remote::new(options("https://localhost:8443")).is_ok());
    }
}
