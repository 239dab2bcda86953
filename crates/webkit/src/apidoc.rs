//! What every operation of both OpenAPI documents shares, written once.
//!
//! Some answers do not come from a handler but from the plumbing every route goes through:
//! the bearer extractors (401), the router's parsing of path and query (400), the input
//! layer and the JSON and multipart extractors (422), and the one error mapping, which
//! gives every error the [`ErrorBody`] shape and a `Retry-After` on 429 and 503. Rather than
//! each `#[utoipa::path]` repeating them (and forgetting some), [`Conventions`] adds them to
//! every operation from facts the document already holds (its security, its parameters),
//! gives each error response the error schema and a description, and declares the bearer
//! scheme. Handlers list only the statuses their own rules answer.
//!
//! The input layer's rule (no control characters, bar line breaks and tabs in bodies and
//! queries) is likewise written into every string a request can carry, as a `pattern`, so
//! the documents say which strings the server takes.

use utoipa::Modify;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{Object, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};

pub use crate::error::{ErrorBody, ErrorCode, ErrorDetail, FieldErrorBody};

/// The modifier both documents apply (see the module's documentation).
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        let mut referenced = Vec::new();
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(op);
                mark_request_strings(op, &mut referenced);
            }
        }
        // The schemas request bodies refer to, and those they refer to in turn.
        let schemas = &mut openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas;
        let mut done = std::collections::BTreeSet::new();
        while let Some(name) = referenced.pop() {
            if !done.insert(name.clone()) {
                continue;
            }
            if let Some(RefOr::T(schema)) = schemas.get_mut(&name) {
                no_controls(schema, true, &mut referenced);
            }
        }
    }
}

/// What [`crate::input`] refuses: C0 and C1 control characters; line breaks and tabs are
/// allowed in bodies and query values (text areas), never in the path.
const TEXT: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";
const LINE: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// [`TEXT`] with something besides white space, for what handlers trim and then require.
/// Handlers' structs ask for it with `pattern = r"\S"`.
const NONBLANK: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

/// Writes the control-character rule into an operation's parameters and inline body
/// schemas, and collects the component schemas its bodies refer to.
fn mark_request_strings(op: &mut Operation, referenced: &mut Vec<String>) {
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p
            && let Some(RefOr::T(schema)) = &mut p.schema
        {
            no_controls(schema, p.parameter_in != ParameterIn::Path, referenced);
        }
    }
    if let Some(RefOr::T(body)) = &mut op.request_body {
        for content in body.content.values_mut() {
            if let RefOr::T(content) = content {
                match &mut content.schema {
                    Some(RefOr::T(schema)) => no_controls(schema, true, referenced),
                    Some(RefOr::Ref(r)) => referenced.extend(schema_name(r)),
                    None => {}
                }
            }
        }
    }
}

fn schema_name(r: &Ref) -> Option<String> {
    r.ref_location
        .strip_prefix("#/components/schemas/")
        .map(str::to_string)
}

/// Gives every free-text string in `schema` (no pattern, choice or format of its own) the
/// control-character pattern, map keys too; follows references into `referenced`.
fn no_controls(schema: &mut Schema, multiline: bool, referenced: &mut Vec<String>) {
    let sub = |s: &mut RefOr<Schema>, referenced: &mut Vec<String>| match s {
        RefOr::T(s) => no_controls(s, multiline, referenced),
        RefOr::Ref(r) => referenced.extend(schema_name(r)),
    };
    match schema {
        Schema::Object(o) => {
            let is_string = match &o.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(types) => types.contains(&Type::String),
                SchemaType::AnyValue => false,
            };
            if is_string && o.pattern.as_deref() == Some(r"\S") {
                o.pattern = Some(NONBLANK.into());
            } else if is_string
                && o.pattern.is_none()
                && o.enum_values.is_none()
                && o.format.is_none()
            {
                o.pattern = Some(if multiline { TEXT } else { LINE }.into());
            }
            for p in o.properties.values_mut() {
                sub(p, referenced);
            }
            if let Some(extra) = &mut o.additional_properties
                && let utoipa::openapi::schema::AdditionalProperties::RefOr(s) = extra.as_mut()
            {
                sub(s, referenced);
                let mut key = Object::with_type(Type::String);
                key.pattern = Some(LINE.into());
                o.property_names = Some(Box::new(Schema::Object(key)));
            }
        }
        Schema::Array(a) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut a.items {
                sub(items, referenced);
            }
        }
        Schema::OneOf(s) => s.items.iter_mut().for_each(|i| sub(i, referenced)),
        Schema::AllOf(s) => s.items.iter_mut().for_each(|i| sub(i, referenced)),
        Schema::AnyOf(s) => s.items.iter_mut().for_each(|i| sub(i, referenced)),
        _ => {}
    }
}

/// Adds the plumbing's statuses to one operation and fills in every error response.
fn complete(op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let params: &[RefOr<Parameter>] = op.parameters.as_deref().unwrap_or_default();
    // Axum answers 400 when a path value does not parse into its type (a text segment
    // always does), or the query string does not: a value of the wrong type, a required
    // parameter missing, or one given twice.
    let parsed = params.iter().any(|p| match p {
        RefOr::T(p) => match p.parameter_in {
            ParameterIn::Path => !is_text(p),
            ParameterIn::Query => true,
            _ => false,
        },
        RefOr::Ref(_) => true,
    });
    let responses = &mut op.responses.responses;
    if secured {
        responses
            .entry("401".into())
            .or_insert_with(|| RefOr::T(Response::default()));
    }
    if parsed {
        responses
            .entry("400".into())
            .or_insert_with(|| RefOr::T(Response::default()));
    }
    // The input layer refuses control characters anywhere in the URL or body with a 422,
    // and the JSON and multipart extractors refuse a body they cannot read; so any
    // operation may answer it.
    responses
        .entry("422".into())
        .or_insert_with(|| RefOr::T(Response::default()));
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let Ok(code) = status.parse::<u16>() else {
            continue;
        };
        // OpenAPI requires a description on every response.
        if response.description.is_empty() {
            response.description = default_description(code).into();
        }
        if code < 400 {
            continue;
        }
        if response.content.is_empty() {
            response.content.insert(
                "application/json".into(),
                RefOr::T(
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                ),
            );
        }
        if matches!(code, 429 | 503) {
            let retry = HeaderBuilder::new()
                .schema(Some(Object::with_type(Type::Integer)))
                .description(Some("Seconds to wait before trying again."))
                .build();
            response
                .headers
                .insert("Retry-After".into(), RefOr::T(retry));
        }
    }
}

/// Whether a parameter's schema is plain text (optional or not), which always parses.
fn is_text(p: &Parameter) -> bool {
    match &p.schema {
        Some(RefOr::T(Schema::Object(o))) => match &o.schema_type {
            SchemaType::Type(Type::String) => true,
            SchemaType::Array(types) => {
                types.iter().all(|t| matches!(t, Type::String | Type::Null))
            }
            _ => false,
        },
        _ => false,
    }
}

/// What a status means when the operation says nothing more precise.
fn default_description(code: u16) -> &'static str {
    match code {
        200 => "OK.",
        201 => "Created.",
        202 => "Accepted: it happens in the background.",
        204 => "Done (no content).",
        400 => {
            "The URL is malformed: an id that is not a number, or a query parameter missing or of the wrong type."
        }
        401 => {
            "No bearer token, or an unknown or expired one (or, for a login, wrong credentials)."
        }
        403 => "Signed in, but not allowed to do this.",
        404 => "No such resource, or not one the caller may see.",
        409 => "The resource's state does not allow this now.",
        422 => {
            "Invalid input: `fields` names each field at fault. Also a body that is not what the operation reads, or a control character anywhere in the URL or body."
        }
        429 => "Too many attempts: wait `Retry-After` seconds.",
        503 => "Too busy (password hashing is bounded): retry after `Retry-After` seconds.",
        _ => "An error.",
    }
}

/// A string that must be one of `values` (the handler parses it and refuses anything else).
pub fn choice(description: &str, values: &[&str]) -> Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// `1` male, `2` female, `3` unset.
pub fn sex() -> Object {
    choice("`1` male, `2` female, `3` unset.", &["1", "2", "3"])
}
