//! The OpenAPI document (`GET /openapi.json`), built from the same `schemars` schemas as
//! the API types, so the document cannot drift from the wire format.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::api::{
    AnalyzeRequest, AnalyzeResponse, ErrorBody, Health, InfoResponse, PlaybookDetail, PlaybookList,
    ValidateResponse,
};
use volatile_engine::spec::InlinePlaybookSpec;

fn error_responses(codes: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    codes
        .iter()
        .map(|(status, description)| {
            (
                status.to_string(),
                json!({
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                }),
            )
        })
        .collect()
}

fn json_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

/// The OpenAPI 3.0 document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let _ = generator.subschema_for::<AnalyzeRequest>();
    let _ = generator.subschema_for::<AnalyzeResponse>();
    let _ = generator.subschema_for::<ErrorBody>();
    let _ = generator.subschema_for::<InfoResponse>();
    let _ = generator.subschema_for::<PlaybookList>();
    let _ = generator.subschema_for::<PlaybookDetail>();
    let _ = generator.subschema_for::<InlinePlaybookSpec>();
    let _ = generator.subschema_for::<ValidateResponse>();
    let _ = generator.subschema_for::<Health>();
    let schemas = generator.take_definitions(true);

    let security = json!([{}, {"apiKey": []}]);
    let mut analyze_responses = error_responses(&[
        ("400", "Malformed JSON, unknown field or wrong type."),
        ("401", "Missing or unknown API key."),
        ("404", "Unknown playbook."),
        ("413", "Body or file count over the limit."),
        ("415", "Not JSON."),
        (
            "422",
            "An inline rule that does not compile, or changed_lines that are not ranges.",
        ),
        ("429", "Rate limit; see Retry-After."),
        ("503", "Overloaded or shutting down; see Retry-After."),
    ]);
    analyze_responses.insert(
        "200".into(),
        json!({
            "description": "Findings per file. A problem of one file is that file's `error`.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/AnalyzeResponse"}},
                "application/sarif+json": {"schema": {"type": "object"}}
            }
        }),
    );
    let mut validate_responses = error_responses(&[
        ("400", "Malformed JSON or YAML."),
        ("401", "Missing or unknown API key."),
        ("413", "Body over the limit."),
        ("415", "Neither JSON nor YAML."),
        ("429", "Rate limit; see Retry-After."),
        ("503", "Overloaded; see Retry-After."),
    ]);
    validate_responses.insert(
        "200".into(),
        json_response("Compile errors and example results.", "ValidateResponse"),
    );
    let mut playbook_responses = error_responses(&[
        ("401", "Missing or unknown API key."),
        ("404", "Unknown playbook."),
    ]);
    playbook_responses.insert(
        "200".into(),
        json_response("The playbook and its rules.", "PlaybookDetail"),
    );

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Volatile",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Stateless code-compliance analysis. Submitted code is analysed in memory and never kept."
        },
        "paths": {
            "/v1/analyze": {"post": {
                "operationId": "analyze",
                "summary": "Analyse files against a playbook.",
                "security": security,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnalyzeRequest"}}}},
                "responses": analyze_responses
            }},
            "/v1/playbooks/validate": {"post": {
                "operationId": "validatePlaybook",
                "summary": "Compile an inline playbook and run its examples.",
                "security": security,
                "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/InlinePlaybookSpec"}},
                    "application/yaml": {"schema": {"$ref": "#/components/schemas/InlinePlaybookSpec"}}
                }},
                "responses": validate_responses
            }},
            "/v1/playbooks": {"get": {
                "operationId": "listPlaybooks",
                "security": security,
                "responses": {"200": json_response("The served playbooks.", "PlaybookList"), "401": {"description": "Missing or unknown API key."}}
            }},
            "/v1/playbooks/{id}": {"get": {
                "operationId": "getPlaybook",
                "security": security,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": playbook_responses
            }},
            "/v1/info": {"get": {
                "operationId": "info",
                "security": security,
                "responses": {"200": json_response("Version, languages and limits.", "InfoResponse"), "401": {"description": "Missing or unknown API key."}}
            }},
            "/healthz": {"get": {"operationId": "healthz", "responses": {"200": json_response("The process is up.", "Health")}}},
            "/readyz": {"get": {"operationId": "readyz", "responses": {
                "200": json_response("Ready.", "Health"),
                "503": json_response("Draining.", "Health")
            }}},
            "/metrics": {"get": {"operationId": "metrics", "responses": {"200": {"description": "Prometheus text.", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"operationId": "openapi", "responses": {"200": {"description": "This document.", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "Optional: only when the server runs with API keys."}}
        }
    })
}
