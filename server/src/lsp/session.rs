//! One editor session: the `initialize` handshake, then a loop over the client's messages,
//! the workers' outcomes and the debounce timers.
//!
//! Everything about documents happens on this one thread, in message order, so a version
//! check here is final: an outcome is published only if its version is still the
//! document's version when it arrives; otherwise it is dropped. A change cancels the
//! analysis in flight and (re)starts the document's debounce timer; a document is handed
//! to the workers only once its timer runs out, so a burst of keystrokes costs one
//! analysis, of the last version.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use globset::GlobSet;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument, Exit,
    LogMessage, Notification as _, PublishDiagnostics, ShowMessage,
};
use lsp_types::request::{CodeActionRequest, Initialize, Request as _, Shutdown};
use lsp_types::{
    CodeActionOptions, CodeActionProviderCapability, Diagnostic, InitializeParams,
    InitializeResult, LogMessageParams, MessageType, PublishDiagnosticsParams, SaveOptions,
    ServerCapabilities, ServerInfo, ShowMessageParams, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions, Uri,
};
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use super::actions::quick_fixes;
use super::analysis::{self, Backend, Job, Outcome, Setup};
use super::convert::Encoding;
use super::documents::{Documents, Published, file_path};

/// What the command line sets; `initializationOptions` may override it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Quiet time after the last change before a document is analysed.
    pub debounce: Duration,
    /// Analysis threads.
    pub threads: usize,
}

/// The longest debounce `initializationOptions.debounceMs` may ask for.
const MAX_DEBOUNCE: Duration = Duration::from_secs(10);

/// Runs a session over `connection` until `exit`; returns the process exit code (0 after
/// `shutdown`, 1 otherwise, as the protocol says; 2 when `setup` fails for the workspace).
pub fn serve(
    connection: &Connection,
    settings: Settings,
    setup: impl FnOnce(&Path) -> Result<Setup, String>,
) -> u8 {
    let Some((id, params)) = handshake(connection) else {
        return 1;
    };
    let refuse = |id: RequestId, message: String| {
        let error = Response::new_err(id, ErrorCode::InternalError as i32, message);
        let _ = connection.sender.send(error.into());
    };
    let roots = roots(&params);
    let root = roots.first().cloned().unwrap_or_else(|| PathBuf::from("."));
    let Setup { backend, exclude } = match setup(&root) {
        Ok(setup) => setup,
        Err(message) => {
            warn!("{message}");
            refuse(id, format!("volatile: {message}"));
            return 2;
        }
    };
    let encoding = Encoding::negotiate(
        params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_deref()),
    );
    let mut settings = settings;
    if let Some(ms) = params
        .initialization_options
        .as_ref()
        .and_then(|o| o.get("debounceMs"))
        .and_then(serde_json::Value::as_u64)
    {
        settings.debounce = Duration::from_millis(ms).min(MAX_DEBOUNCE);
    }
    let versioned_edits = params
        .capabilities
        .workspace
        .as_ref()
        .and_then(|w| w.workspace_edit.as_ref())
        .and_then(|e| e.document_changes)
        .unwrap_or(false);
    let backend = Arc::new(backend);
    let (jobs, outcomes) = match analysis::start(backend.clone(), settings.threads, encoding) {
        Ok(channels) => channels,
        Err(e) => {
            warn!("cannot start the analysis threads: {e}");
            refuse(id, "cannot start the analysis threads".into());
            return 1;
        }
    };
    let result = InitializeResult {
        capabilities: capabilities(encoding),
        server_info: Some(ServerInfo {
            name: "volatile".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    if connection
        .sender
        .send(Response::new_ok(id, result).into())
        .is_err()
    {
        return 1;
    }
    let mut session = Session {
        sender: connection.sender.clone(),
        docs: Documents::new(roots),
        due: HashMap::new(),
        jobs,
        backend,
        exclude,
        encoding,
        debounce: settings.debounce,
        versioned_edits,
        shutdown: false,
        tickets: 0,
        failing: false,
    };
    session.run(&connection.receiver, &outcomes)
}

/// Waits for `initialize`, answering other requests with `ServerNotInitialized`. `None`
/// when the client exits or goes away first.
fn handshake(connection: &Connection) -> Option<(RequestId, InitializeParams)> {
    loop {
        match connection.receiver.recv().ok()? {
            Message::Request(request) if request.method == Initialize::METHOD => {
                match serde_json::from_value::<InitializeParams>(request.params) {
                    Ok(params) => return Some((request.id, params)),
                    Err(_) => {
                        let error = Response::new_err(
                            request.id,
                            ErrorCode::InvalidParams as i32,
                            "malformed initialize parameters".into(),
                        );
                        connection.sender.send(error.into()).ok()?;
                    }
                }
            }
            Message::Request(request) => {
                let error = Response::new_err(
                    request.id,
                    ErrorCode::ServerNotInitialized as i32,
                    "the server is not initialized yet".into(),
                );
                connection.sender.send(error.into()).ok()?;
            }
            Message::Notification(n) if n.method == Exit::METHOD => return None,
            Message::Notification(_) | Message::Response(_) => {}
        }
    }
}

fn capabilities(encoding: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(encoding.kind()),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                will_save: None,
                will_save_wait_until: None,
                save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                    include_text: Some(false),
                })),
            },
        )),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![lsp_types::CodeActionKind::QUICKFIX]),
            resolve_provider: Some(false),
            ..CodeActionOptions::default()
        })),
        ..ServerCapabilities::default()
    }
}

/// The workspace folders, to make document paths relative (the rules' `files` and
/// `ignores` globs are written relative to a project); else the working directory.
fn roots(params: &InitializeParams) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| file_path(&f.uri))
        .collect();
    #[allow(deprecated)]
    if roots.is_empty() {
        roots.extend(params.root_uri.as_ref().and_then(file_path));
    }
    if roots.is_empty() {
        roots.extend(std::env::current_dir().ok());
    }
    roots
}

struct Session {
    sender: Sender<Message>,
    docs: Documents,
    /// When each document with pending changes is to be analysed.
    due: HashMap<Uri, Instant>,
    jobs: Sender<Job>,
    backend: Arc<Backend>,
    /// Documents not to analyse.
    exclude: Option<GlobSet>,
    encoding: Encoding,
    debounce: Duration,
    /// Whether the client takes edits naming the document version.
    versioned_edits: bool,
    shutdown: bool,
    /// Submissions so far, to number them.
    tickets: u64,
    /// Whether the last analysis failed (to tell the user once, not at every keystroke).
    failing: bool,
}

impl Session {
    fn run(&mut self, messages: &Receiver<Message>, outcomes: &Receiver<Outcome>) -> u8 {
        loop {
            let timer = match self.due.values().min() {
                Some(&at) => crossbeam_channel::at(at),
                None => crossbeam_channel::never(),
            };
            crossbeam_channel::select! {
                recv(messages) -> message => match message {
                    Ok(message) => {
                        if let Some(code) = self.handle(message) {
                            return code;
                        }
                    }
                    Err(_) => {
                        warn!("the client closed the connection without `exit`");
                        return if self.shutdown { 0 } else { 1 };
                    }
                },
                recv(outcomes) -> outcome => {
                    if let Ok(outcome) = outcome {
                        self.finish(outcome);
                    }
                }
                recv(timer) -> _ => {}
            }
            self.submit_due();
        }
    }

    /// Handles one message; `Some(exit code)` on `exit`.
    fn handle(&mut self, message: Message) -> Option<u8> {
        match message {
            Message::Request(request) => {
                self.request(request);
                None
            }
            Message::Notification(n) if n.method == Exit::METHOD => {
                Some(if self.shutdown { 0 } else { 1 })
            }
            Message::Notification(n) => {
                self.notification(n);
                None
            }
            Message::Response(_) => None,
        }
    }

    fn request(&mut self, request: Request) {
        let Request { id, method, params } = request;
        let response = if self.shutdown {
            Response::new_err(
                id,
                ErrorCode::InvalidRequest as i32,
                "the server is shutting down".into(),
            )
        } else if method == Shutdown::METHOD {
            self.shutdown = true;
            self.due.clear();
            self.docs.cancel_all();
            Response::new_ok(id, ())
        } else if method == CodeActionRequest::METHOD {
            match serde_json::from_value::<lsp_types::CodeActionParams>(params) {
                Ok(params) => {
                    let actions = self
                        .docs
                        .get(&params.text_document.uri)
                        .map(|doc| quick_fixes(doc, &params, self.versioned_edits))
                        .unwrap_or_default();
                    Response::new_ok(id, actions)
                }
                Err(_) => Response::new_err(
                    id,
                    ErrorCode::InvalidParams as i32,
                    format!("malformed {method} parameters"),
                ),
            }
        } else {
            Response::new_err(
                id,
                ErrorCode::MethodNotFound as i32,
                format!("unsupported request {method}"),
            )
        };
        self.send(response.into());
    }

    fn notification(&mut self, n: Notification) {
        let now = Instant::now();
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Some(p) = params::<lsp_types::DidOpenTextDocumentParams>(n) else {
                    return;
                };
                let doc = p.text_document;
                self.docs
                    .open(doc.uri.clone(), &doc.language_id, doc.version, doc.text);
                self.due.insert(doc.uri, now);
            }
            DidChangeTextDocument::METHOD => {
                let Some(p) = params::<lsp_types::DidChangeTextDocumentParams>(n) else {
                    return;
                };
                let uri = p.text_document.uri;
                let Some(doc) = self.docs.get_mut(&uri) else {
                    debug!("a change to a document that is not open");
                    return;
                };
                doc.change(p.text_document.version, p.content_changes, self.encoding);
                self.due.insert(uri, now + self.debounce);
            }
            DidSaveTextDocument::METHOD => {
                let Some(p) = params::<lsp_types::DidSaveTextDocumentParams>(n) else {
                    return;
                };
                if self.docs.get(&p.text_document.uri).is_some() {
                    self.due.insert(p.text_document.uri, now);
                }
            }
            DidCloseTextDocument::METHOD => {
                let Some(p) = params::<lsp_types::DidCloseTextDocumentParams>(n) else {
                    return;
                };
                let uri = p.text_document.uri;
                self.due.remove(&uri);
                if self.docs.close(&uri).is_some() {
                    self.publish(uri, Vec::new(), None);
                }
            }
            _ => {}
        }
    }

    /// Hands the documents whose debounce has run out to the workers.
    fn submit_due(&mut self) {
        let now = Instant::now();
        let ready: Vec<Uri> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(uri, _)| uri.clone())
            .collect();
        for uri in ready {
            self.due.remove(&uri);
            self.submit(uri);
        }
    }

    fn submit(&mut self, uri: Uri) {
        let Some(doc) = self.docs.get_mut(&uri) else {
            return;
        };
        let Some(lang) = doc.lang.filter(|l| self.backend.reads(*l)) else {
            return;
        };
        if doc.submitted == Some(doc.version)
            || self.exclude.as_ref().is_some_and(|e| e.is_match(&doc.path))
        {
            return;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.tickets += 1;
        doc.cancel = cancel.clone();
        doc.submitted = Some(doc.version);
        doc.ticket = self.tickets;
        let job = Job {
            uri,
            version: doc.version,
            ticket: self.tickets,
            path: doc.path.clone(),
            lang,
            text: doc.text.clone(),
            tree: doc.tree.clone(),
            cancel,
        };
        if self.jobs.send(job).is_err() {
            warn!("the analysis threads have stopped");
        }
    }

    /// Publishes an outcome if it is about the document's current version (and is the
    /// latest analysis of it).
    fn finish(&mut self, outcome: Outcome) {
        if self.shutdown {
            return;
        }
        let Some(doc) = self.docs.get_mut(&outcome.uri) else {
            return;
        };
        if doc.version != outcome.version || doc.ticket != outcome.ticket {
            debug!("dropped the diagnostics of an outdated version");
            return;
        }
        if outcome.tree.is_some() {
            doc.tree = outcome.tree;
        }
        let version = outcome.version;
        let (items, failure) = match outcome.result {
            Ok(items) => (items, None),
            Err(message) => (
                Vec::new(),
                Some(format!(
                    "volatile could not analyse {}: {message}",
                    doc.path
                )),
            ),
        };
        let diagnostics = items.iter().map(|(d, _)| d.clone()).collect();
        doc.published = Some(Published { version, items });
        match failure {
            Some(message) => {
                warn!("{message}");
                self.tell(&message);
            }
            None => self.failing = false,
        }
        self.publish(outcome.uri, diagnostics, Some(version));
    }

    /// Logs a problem in the client's output; shows it once per streak of failures.
    fn tell(&mut self, message: &str) {
        let log = LogMessageParams {
            typ: MessageType::WARNING,
            message: message.into(),
        };
        self.send(Notification::new(LogMessage::METHOD.into(), log).into());
        if !self.failing {
            self.failing = true;
            let show = ShowMessageParams {
                typ: MessageType::WARNING,
                message: message.into(),
            };
            self.send(Notification::new(ShowMessage::METHOD.into(), show).into());
        }
    }

    fn publish(&self, uri: Uri, diagnostics: Vec<Diagnostic>, version: Option<i32>) {
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        self.send(Notification::new(PublishDiagnostics::METHOD.into(), params).into());
    }

    fn send(&self, message: Message) {
        if self.sender.send(message).is_err() {
            debug!("the client is gone; a message was not sent");
        }
    }
}

/// A notification's parameters; a malformed one is logged by name only (the parameters
/// may hold document text) and ignored.
fn params<P: DeserializeOwned>(n: Notification) -> Option<P> {
    match serde_json::from_value(n.params) {
        Ok(p) => Some(p),
        Err(e) => {
            warn!(
                "ignored a malformed {} notification ({:?} error at line {} column {})",
                n.method,
                e.classify(),
                e.line(),
                e.column()
            );
            None
        }
    }
}
