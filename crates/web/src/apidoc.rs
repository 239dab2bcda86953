//! The platform API's OpenAPI vocabulary: the shared conventions of every tsunagu API
//! ([`tsunagu_webkit::apidoc`]) and the booking choices' schemas.

use utoipa::openapi::schema::{Object, SchemaType, Type};

pub use tsunagu_webkit::apidoc::*;

/// `first` or `return` (初診・再診).
pub fn visit_kind() -> Object {
    tsunagu_webkit::apidoc::choice("`first` or `return`.", &["first", "return"])
}

/// `online` or `in_person`, or absent or `null` for `online`.
pub fn optional_mode() -> Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
        .description(Some(
            "`online` or `in_person` (absent or `null`: `online`).",
        ))
        .enum_values(Some([
            serde_json::json!("online"),
            serde_json::json!("in_person"),
            serde_json::Value::Null,
        ]))
        .build()
}

/// A staff booking's mode: absent or `null` is the menu's own.
pub fn booking_mode() -> Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
        .description(Some(
            "`online` or `in_person` when the visit differs from the menu (absent or `null`: the menu's own).",
        ))
        .enum_values(Some([
            serde_json::json!("online"),
            serde_json::json!("in_person"),
            serde_json::Value::Null,
        ]))
        .build()
}
