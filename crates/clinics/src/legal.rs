//! Terms of use and privacy policy (利用規約・プライバシーポリシー): the platform's default
//! text, and a facility's own text that replaces it on that facility's pages. A patient must
//! be able to read what they agree to before they agree (sign-up, booking).

use tsunagu_db::{Db, DbResultExt, Tx, sqlx};
use tsunagu_kernel::{DomainError, DomainResult, FacilityId};

/// The platform's terms of use, Japanese.
pub const PLATFORM_TERMS_JA: &str = include_str!("legal/terms_ja.txt");
/// The platform's privacy policy, Japanese.
pub const PLATFORM_PRIVACY_JA: &str = include_str!("legal/privacy_ja.txt");

/// The longest text a facility may set (a long policy is some 10,000 characters).
pub const MAX_CHARS: usize = 30_000;

/// Which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegalKind {
    /// 利用規約.
    Terms,
    /// プライバシーポリシー.
    Privacy,
}

impl LegalKind {
    /// Its stored name, also its URL segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terms => "terms",
            Self::Privacy => "privacy",
        }
    }

    /// The platform's default text.
    pub fn platform_text(self) -> &'static str {
        match self {
            Self::Terms => PLATFORM_TERMS_JA,
            Self::Privacy => PLATFORM_PRIVACY_JA,
        }
    }
}

/// Checks a facility's text: trimmed, at most [`MAX_CHARS`], only printable characters,
/// newlines and tabs (the control-character rule of every input). Empty means "use the
/// platform's default".
pub fn parse_text(field: &'static str, s: &str) -> DomainResult<String> {
    let s = s.replace("\r\n", "\n");
    let s = s.trim();
    if s.chars().count() > MAX_CHARS {
        return Err(DomainError::invalid(field, "error.legal.too_long"));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(DomainError::invalid(field, "error.control_chars"));
    }
    Ok(s.to_string())
}

/// Paragraphs of a text as pages show them: split at blank lines, each a list of lines.
pub fn paragraphs(text: &str) -> Vec<Vec<String>> {
    text.split("\n\n")
        .map(|p| p.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|p: &Vec<String>| p.iter().any(|l| !l.trim().is_empty()))
        .collect()
}

/// Facilities' own texts.
#[derive(Debug, Clone)]
pub struct LegalStore {
    db: Db,
}

impl LegalStore {
    /// The store on `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The facility's own text of `kind`, if it set one.
    pub async fn get(&self, facility: FacilityId, kind: LegalKind) -> DomainResult<Option<String>> {
        sqlx::query_scalar(
            "SELECT body FROM facility_documents WHERE facility_id = $1 AND kind = $2",
        )
        .bind(facility.0)
        .bind(kind.as_str())
        .fetch_optional(self.db.pool())
        .await
        .or_internal()
    }

    /// The text patients of the facility read: its own, or the platform's default (`false`).
    pub async fn text_for(
        &self,
        facility: FacilityId,
        kind: LegalKind,
    ) -> DomainResult<(String, bool)> {
        Ok(match self.get(facility, kind).await? {
            Some(t) => (t, true),
            None => (kind.platform_text().to_string(), false),
        })
    }

    /// Sets (or, with an empty text, removes) the facility's own text in the caller's write
    /// transaction.
    pub async fn set_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        kind: LegalKind,
        body: &str,
        now_ms: i64,
    ) -> DomainResult<()> {
        sqlx::query("DELETE FROM facility_documents WHERE facility_id = $1 AND kind = $2")
            .bind(facility.0)
            .bind(kind.as_str())
            .execute(&mut **tx)
            .await
            .or_internal()?;
        if !body.is_empty() {
            sqlx::query(
                "INSERT INTO facility_documents (facility_id, kind, body, updated_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(facility.0)
            .bind(kind.as_str())
            .bind(body)
            .bind(now_ms)
            .execute(&mut **tx)
            .await
            .or_internal()?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_texts_are_there_and_split_into_paragraphs() {
        assert!(PLATFORM_TERMS_JA.contains("第1条"));
        assert!(PLATFORM_PRIVACY_JA.contains("録音・録画せず"));
        let p = paragraphs(PLATFORM_TERMS_JA);
        assert_eq!(p.len(), 10, "ten articles");
        assert!(p[0][0].starts_with("第1条"));
    }

    #[test]
    fn a_facility_text_is_checked() {
        assert_eq!(
            parse_text("t", "  本文\r\n二行目 ").unwrap(),
            "本文\n二行目"
        );
        assert_eq!(parse_text("t", "").unwrap(), "");
        assert!(parse_text("t", "a\u{0}b").is_err());
        assert!(parse_text("t", &"あ".repeat(MAX_CHARS + 1)).is_err());
        assert!(parse_text("t", "表\tの列").is_ok());
    }
}
