//! Reading a multipart form whole: its text parts (checked like every other form's) and
//! its files.

use tsunagu_kernel::DomainError;

/// Reads a multipart form into text fields and files (name, bytes, file name).
pub async fn read_multipart(
    mut mp: axum::extract::Multipart,
) -> Result<(Vec<(String, String)>, Vec<(String, Vec<u8>, String)>), DomainError> {
    let mut texts = Vec::new();
    let mut files = Vec::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Err(DomainError::invalid("form", "error.form.too_large")),
        };
        let name = field.name().unwrap_or("").to_string();
        if let Some(file_name) = field.file_name().map(str::to_string) {
            let bytes = field
                .bytes()
                .await
                .map_err(|_| DomainError::invalid("form", "error.form.too_large"))?;
            if !bytes.is_empty() {
                files.push((name, bytes.to_vec(), file_name));
            }
        } else {
            let text = field
                .text()
                .await
                .map_err(|_| DomainError::invalid("form", "error.form.too_large"))?;
            // The text parts of an upload obey the same rule as every other form.
            if let Some(field) = crate::input::bad_text(&name, &text) {
                return Err(DomainError::Invalid(vec![tsunagu_kernel::FieldError::new(
                    field,
                    "error.control_chars",
                )]));
            }
            texts.push((name, text));
        }
    }
    Ok((texts, files))
}

/// The text field `name` of a form read by [`read_multipart`] (empty when absent).
pub fn field(texts: &[(String, String)], name: &str) -> String {
    texts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}
