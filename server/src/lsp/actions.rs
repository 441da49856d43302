//! Quick fixes: a rule's `fix` on a published diagnostic becomes a code action whose edit
//! replaces the matched text.
//!
//! Fixes are computed with the diagnostics, for the same version of the text; they are
//! offered only while the document is still at that version, and the edit names the
//! version when the client accepts versioned edits, so a stale fix is never applied.

use std::collections::HashMap;

use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, DocumentChanges, OneOf,
    OptionalVersionedTextDocumentIdentifier, TextDocumentEdit, WorkspaceEdit,
};

use super::convert::touches;
use super::documents::Document;

/// The quick fixes for the diagnostics of `document` under `params.range`.
pub fn quick_fixes(
    document: &Document,
    params: &CodeActionParams,
    versioned_edits: bool,
) -> Vec<CodeActionOrCommand> {
    let wants_quick_fixes = params.context.only.as_ref().is_none_or(|only| {
        only.iter().any(|kind| {
            let kind = kind.as_str();
            kind.is_empty() || CodeActionKind::QUICKFIX.as_str().starts_with(kind)
        })
    });
    let Some(published) = &document.published else {
        return Vec::new();
    };
    if !wants_quick_fixes || published.version != document.version {
        return Vec::new();
    }
    let uri = &params.text_document.uri;
    published
        .items
        .iter()
        .filter(|(diagnostic, _)| touches(&diagnostic.range, &params.range))
        .filter_map(|(diagnostic, fix)| {
            let fix = fix.clone()?;
            let edit = if versioned_edits {
                WorkspaceEdit {
                    document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
                        text_document: OptionalVersionedTextDocumentIdentifier {
                            uri: uri.clone(),
                            version: Some(published.version),
                        },
                        edits: vec![OneOf::Left(fix)],
                    }])),
                    ..WorkspaceEdit::default()
                }
            } else {
                WorkspaceEdit {
                    changes: Some(HashMap::from([(uri.clone(), vec![fix])])),
                    ..WorkspaceEdit::default()
                }
            };
            let rule = match &diagnostic.code {
                Some(lsp_types::NumberOrString::String(id)) => id.as_str(),
                _ => "the rule",
            };
            Some(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("Apply the fix of `{rule}`"),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![diagnostic.clone()]),
                edit: Some(edit),
                is_preferred: Some(true),
                ..CodeAction::default()
            }))
        })
        .collect()
}
