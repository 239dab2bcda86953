//! A patient registers their insurance (A4): card numbers with photos of both sides, or
//! マイナ保険証. Every problem is reported at once and nothing is stored unless all is well.

use tsunagu_db::DbResultExt;
use tsunagu_files::{FileStore, Owner, Purpose};
use tsunagu_kernel::{AccountId, DomainResult, FieldError, PatientId};

use crate::{CardNumbers, InsuranceStore, Kind};

/// A registration as typed (kept to show again): `kind` is `card` or `myna`.
#[derive(Debug, Default, Clone)]
pub struct InsuranceInput {
    /// `card` or `myna`.
    pub kind: String,
    /// 保険者番号.
    pub insurer_number: String,
    /// 記号.
    pub symbol: String,
    /// 番号.
    pub number: String,
    /// 枝番.
    pub branch: String,
}

impl InsuranceStore {
    /// Validates and saves a patient's insurance (numbers and photos, or マイナ保険証); every
    /// problem is reported at once and nothing is stored unless all is well.
    pub async fn register(
        &self,
        store: &FileStore,
        account: AccountId,
        pid: PatientId,
        form: &InsuranceInput,
        files: &[(String, Vec<u8>, String)],
    ) -> DomainResult<()> {
        tsunagu_accounts::PatientStore::new(self.db.clone(), self.clock.clone())
            .patient_of(account, pid)
            .await?;
        let existing = self.get(pid).await?;
        let kind = if form.kind == "myna" {
            Kind::Myna
        } else {
            Kind::Card
        };
        // Every problem at once: the numbers and the photos.
        let mut v = tsunagu_kernel::error::Validator::new();
        let numbers = match kind {
            Kind::Myna => None,
            Kind::Card => v.check(CardNumbers::parse(
                &form.insurer_number,
                &form.symbol,
                &form.number,
                &form.branch,
            ))?,
        };
        // Check every photo before storing any.
        for (name, bytes, _) in files {
            let field = if name == "back" { "back" } else { "front" };
            v.check(tsunagu_files::sniff(
                field,
                bytes,
                tsunagu_files::Accept::Images,
            ))?;
        }
        // A card needs photos of both sides, unless they were given before.
        if kind == Kind::Card {
            for (side, have_old) in [
                (
                    "front",
                    existing.as_ref().and_then(|r| r.front_file_id).is_some(),
                ),
                (
                    "back",
                    existing.as_ref().and_then(|r| r.back_file_id).is_some(),
                ),
            ] {
                if !have_old && !files.iter().any(|(n, _, _)| n == side) {
                    v.push(FieldError::new(
                        if side == "front" { "front" } else { "back" },
                        "error.insurance.photo_required",
                    ));
                }
            }
        }
        v.finish()?;
        let mut tx = self.db.begin_write().await?;
        let owner = Owner {
            account: Some(account),
            facility: None,
            patient: Some(pid),
            booking: None,
        };
        let mut front = existing.as_ref().and_then(|r| r.front_file_id);
        let mut back = existing.as_ref().and_then(|r| r.back_file_id);
        for (name, bytes, file_name) in files {
            let (purpose, field) = if name == "back" {
                (Purpose::InsuranceBack, "back")
            } else {
                (Purpose::InsuranceFront, "front")
            };
            let f = store
                .put_in(&mut tx, owner, purpose, field, bytes, file_name)
                .await?;
            if name == "back" {
                back = Some(f.id)
            } else {
                front = Some(f.id)
            }
        }
        if kind == Kind::Myna {
            front = None;
            back = None;
        }
        self.save_in(&mut tx, pid, kind, numbers.as_ref(), front, back)
            .await?;
        tx.commit().await.or_internal()?;
        Ok(())
    }
}
