//! Files patients and staff share: images with a booking (B5), insurance card photos (A4),
//! later documents (E4).
//!
//! What a file is comes from its bytes, never its name or the browser's claim: the first
//! bytes are matched against known signatures (JPEG, PNG, WebP, HEIC, PDF) and anything
//! else is refused. Sizes are capped. Each file gets a random 256-bit storage key, so a
//! key is unguessable; but a key alone opens nothing: every read goes through the
//! `files` row and the caller's scope (the owning account, or the facility of the booking).
//!
//! Bytes live in a local folder (`{data_dir}/files/ab/cdef…`), written to a temporary name
//! and renamed, so a crash never leaves a half-written file under a live key.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tsunagu_db::{Db, DbResultExt, Tx, sqlx};
use tsunagu_kernel::secret::new_token;
use tsunagu_kernel::{
    AccountId, Clock, DomainError, DomainResult, FacilityId, FieldError, PatientId,
};

/// Largest accepted upload.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// Most pixels an image may declare: a 10 MB file can claim 100,000 × 100,000 pixels and
/// take gigabytes to decode in a viewer (a decompression bomb). 50 megapixels is above any
/// phone camera's photo of a card or a rash.
pub const MAX_PIXELS: u64 = 50_000_000;

/// What kinds of content a purpose accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Photos only (JPEG, PNG, WebP, HEIC/HEIF).
    Images,
}

/// Why a file is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// An image shared with a booking (not the insurance card).
    BookingImage,
    /// Front of the insurance card.
    InsuranceFront,
    /// Back of the insurance card.
    InsuranceBack,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::BookingImage => "booking_image",
            Purpose::InsuranceFront => "insurance_front",
            Purpose::InsuranceBack => "insurance_back",
        }
    }
}

/// A stored file's record.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFile {
    /// Id.
    pub id: i64,
    /// Random storage key (used in URLs).
    pub key: String,
    /// Sniffed MIME type.
    pub content_type: String,
    /// Size.
    pub size_bytes: i64,
    /// Owning account, if a patient uploaded it.
    pub account_id: Option<i64>,
    /// Facility it was shared with.
    pub facility_id: Option<i64>,
    /// Booking it belongs to.
    pub booking_id: Option<i64>,
    /// Patient it concerns.
    pub patient_id: Option<i64>,
    /// When (ms).
    pub created_at: i64,
}

/// Who is uploading, and what the file is attached to.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    /// Account of the uploader.
    pub account: Option<AccountId>,
    /// Facility it is shared with.
    pub facility: Option<FacilityId>,
    /// Patient it concerns.
    pub patient: Option<PatientId>,
    /// Booking it belongs to.
    pub booking: Option<i64>,
}

/// Checks the bytes and returns their MIME type.
pub fn sniff(field: &'static str, bytes: &[u8], accept: Accept) -> DomainResult<&'static str> {
    if bytes.is_empty() {
        return Err(DomainError::invalid(field, "error.file.empty"));
    }
    if bytes.len() > MAX_BYTES {
        return Err(DomainError::Invalid(vec![
            FieldError::new(field, "error.file.too_large").arg("mb", MAX_BYTES / 1024 / 1024),
        ]));
    }
    let kind = infer::get(bytes).map(|k| k.mime_type());
    let mime = match (accept, kind) {
        (
            Accept::Images,
            Some(m @ ("image/jpeg" | "image/png" | "image/webp" | "image/heif" | "image/heic")),
        ) => m,
        _ => return Err(DomainError::invalid(field, "error.file.not_image")),
    };
    // An image must say how big it is, and not absurdly so.
    let size = imagesize::blob_size(bytes)
        .map_err(|_| DomainError::invalid(field, "error.file.not_image"))?;
    let pixels = u64::try_from(size.width)
        .unwrap_or(u64::MAX)
        .saturating_mul(u64::try_from(size.height).unwrap_or(u64::MAX));
    if size.width == 0 || size.height == 0 || pixels > MAX_PIXELS {
        return Err(DomainError::Invalid(vec![
            FieldError::new(field, "error.file.too_many_pixels").arg("mp", MAX_PIXELS / 1_000_000),
        ]));
    }
    Ok(mime)
}

/// The file store.
#[derive(Debug, Clone)]
pub struct FileStore {
    db: Db,
    clock: Arc<dyn Clock>,
    root: Arc<PathBuf>,
    audit: tsunagu_audit::AuditLog,
}

const COLUMNS: &str = "id, storage_key, content_type, size_bytes, account_id, facility_id, booking_id, \
                       patient_id, created_at";

fn row_to_file(r: &sqlx::any::AnyRow) -> Result<StoredFile, sqlx::Error> {
    use sqlx::Row;
    Ok(StoredFile {
        id: r.try_get("id")?,
        key: r.try_get("storage_key")?,
        content_type: r.try_get("content_type")?,
        size_bytes: r.try_get("size_bytes")?,
        account_id: r.try_get("account_id")?,
        facility_id: r.try_get("facility_id")?,
        booking_id: r.try_get("booking_id")?,
        patient_id: r.try_get("patient_id")?,
        created_at: r.try_get("created_at")?,
    })
}

impl FileStore {
    /// A store keeping bytes under `root`.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        root: PathBuf,
        audit: tsunagu_audit::AuditLog,
    ) -> Self {
        Self {
            db,
            clock,
            root: Arc::new(root),
            audit,
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        // Two-character fan-out keeps directories small.
        let (a, b) = key.split_at(2.min(key.len()));
        self.root.join(a).join(b)
    }

    /// Checks and stores bytes, and records them in the caller's transaction. The bytes are
    /// on disk before the row exists; if the transaction is dropped, an unreferenced file
    /// remains, which [`FileStore::sweep`] removes.
    pub async fn put_in(
        &self,
        tx: &mut Tx,
        owner: Owner,
        purpose: Purpose,
        field: &'static str,
        bytes: &[u8],
        original_name: &str,
    ) -> DomainResult<StoredFile> {
        let content_type = sniff(field, bytes, Accept::Images)?;
        let key = new_token();
        let path = self.path(&key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(DomainError::internal)?;
        }
        let tmp = path.with_extension("part");
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(DomainError::internal)?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(DomainError::internal)?;
        let now = self.clock.now_ms();
        let name: String = original_name
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO files (storage_key, facility_id, account_id, patient_id, booking_id, purpose, content_type, \
             size_bytes, sha256, original_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&key)
        .bind(owner.facility.map(|f| f.0))
        .bind(owner.account.map(|a| a.0))
        .bind(owner.patient.map(|p| p.0))
        .bind(owner.booking)
        .bind(purpose.as_str())
        .bind(content_type)
        .bind(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
        .bind(hex::encode(Sha256::digest(bytes)))
        .bind(name)
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .or_internal()?;
        Ok(StoredFile {
            id,
            key,
            content_type: content_type.into(),
            size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            account_id: owner.account.map(|a| a.0),
            facility_id: owner.facility.map(|f| f.0),
            booking_id: owner.booking,
            patient_id: owner.patient.map(|p| p.0),
            created_at: now,
        })
    }

    /// Files of a booking.
    pub async fn for_booking(&self, booking: i64) -> DomainResult<Vec<StoredFile>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM files WHERE booking_id = $1 AND purpose = 'booking_image' ORDER BY id"
        )))
        .bind(booking)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(row_to_file)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// A file by key if the account owns it.
    pub async fn get_for_account(&self, account: AccountId, key: &str) -> DomainResult<StoredFile> {
        self.get_where("account_id", account.0, key).await
    }

    /// A file by key if it was shared with the facility.
    pub async fn get_at(&self, facility: FacilityId, key: &str) -> DomainResult<StoredFile> {
        self.get_where("facility_id", facility.0, key).await
    }

    /// A file staff of `facility` may open: one shared with the facility (a booking's
    /// images), or an insurance photo of a patient known to it who has shared their record
    /// with it. An insurance photo belongs to the patient's account, not to any facility.
    pub async fn get_for_staff(&self, facility: FacilityId, key: &str) -> DomainResult<StoredFile> {
        match self.get_at(facility, key).await {
            Err(DomainError::NotFound) => {}
            other => return other,
        }
        let account: Option<i64> = sqlx::query_scalar(
            "SELECT f.account_id FROM files f JOIN facility_patients fp ON fp.patient_id = f.patient_id \
             WHERE f.storage_key = $1 AND fp.facility_id = $2 AND fp.shared_at IS NOT NULL \
             AND f.purpose IN ('insurance_front', 'insurance_back')",
        )
        .bind(key)
        .bind(facility.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        let account = account.ok_or(DomainError::NotFound)?;
        self.get_for_account(AccountId(account), key).await
    }

    /// Opens a file for staff ([`FileStore::get_for_staff`]), audited as an access to the
    /// patient's data.
    pub async fn open_for_staff(
        &self,
        by: &tsunagu_audit::By,
        facility: FacilityId,
        key: &str,
    ) -> DomainResult<(StoredFile, Vec<u8>)> {
        let f = self.get_for_staff(facility, key).await?;
        let bytes = self.read(&f).await?;
        self.audit
            .append(by.entry(
                f.patient_id.map(tsunagu_kernel::PatientId),
                "file.view",
                format!("file={}", f.id),
            ))
            .await?;
        Ok((f, bytes))
    }

    /// The key of a file the caller already reached through a scoped record (a
    /// registration's photos).
    pub async fn key_of(&self, id: i64) -> DomainResult<Option<String>> {
        sqlx::query_scalar("SELECT storage_key FROM files WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await
            .or_internal()
    }

    async fn get_where(
        &self,
        column: &'static str,
        value: i64,
        key: &str,
    ) -> DomainResult<StoredFile> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM files WHERE storage_key = $1 AND {column} = $2"
        )))
        .bind(key)
        .bind(value)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        row_to_file(&row).or_internal()
    }

    /// The bytes of a file the caller already found through a scoped lookup.
    pub async fn read(&self, f: &StoredFile) -> DomainResult<Vec<u8>> {
        tokio::fs::read(self.path(&f.key))
            .await
            .map_err(DomainError::internal)
    }

    /// Removes files on disk that no row refers to (left by a dropped transaction).
    pub async fn sweep(&self) -> DomainResult<u64> {
        let mut removed = 0;
        let Ok(mut top) = tokio::fs::read_dir(&*self.root).await else {
            return Ok(0);
        };
        while let Ok(Some(dir)) = top.next_entry().await {
            let prefix = dir.file_name().to_string_lossy().to_string();
            let Ok(mut inner) = tokio::fs::read_dir(dir.path()).await else {
                continue;
            };
            while let Ok(Some(f)) = inner.next_entry().await {
                let rest = f.file_name().to_string_lossy().to_string();
                let key = format!("{prefix}{}", rest.trim_end_matches(".part"));
                let known: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM files WHERE storage_key = $1")
                        .bind(&key)
                        .fetch_optional(self.db.pool())
                        .await
                        .or_internal()?;
                let old = f
                    .metadata()
                    .await
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 3600);
                if known.is_none() && old && tokio::fs::remove_file(f.path()).await.is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn png_of(w: u32, h: u32) -> Vec<u8> {
        let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
        v.extend_from_slice(b"IHDR");
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&[8, 6, 0, 0, 0]);
        v
    }

    #[test]
    fn sniffing_goes_by_content() {
        let png = png_of(1, 1);
        assert_eq!(sniff("f", &png, Accept::Images).unwrap(), "image/png");
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0,
            0, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x01, 0x00, 0x01, 0x03, 1, 0x22, 0, 2, 0x11, 1,
            3, 0x11, 1,
        ];
        assert_eq!(sniff("f", &jpeg, Accept::Images).unwrap(), "image/jpeg");
        assert!(
            sniff("f", b"%PDF-1.7 hello", Accept::Images).is_err(),
            "a PDF is not an image"
        );
        assert!(sniff("f", b"<svg onload=alert(1)>", Accept::Images).is_err());
        // A decompression bomb: a few bytes that claim 10 gigapixels.
        assert!(sniff("f", &png_of(100_000, 100_000), Accept::Images).is_err());
        // A signature with no dimensions behind it.
        assert!(sniff("f", &png_of(1, 1)[..10], Accept::Images).is_err());
        assert!(sniff("f", b"", Accept::Images).is_err());
        let big = vec![0xFF; MAX_BYTES + 1];
        assert!(sniff("f", &big, Accept::Images).is_err());
    }
}
