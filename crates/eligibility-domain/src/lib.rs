//! Domain rules of the tsunagu eligibility service, modelled on Japan's
//! オンライン資格確認等システム: no database and no HTTP, so the store, the web
//! pages and the jobs can all share them and tests can pin them down.
//!
//! - [`insurer`]: 保険者番号 (check digit, padding), 記号・番号・枝番 input rules.
//! - [`model`]: the qualification record (資格情報) and the code tables of the
//!   result XML, with the validity and 未就学 rules.
//! - [`xml`]: the result XML (`XmlMsg`), rendering and importing.
//! - [`csv_io`]: CSV import/export of qualification records.
//! - [`search`]: the outage-time four-facts search (資格情報照会（システム障害時）).
//! - [`generate`]: a deterministic synthetic population for demos and load tests.
//!
//! Messages meant for people are Japanese; where the operating manual of the
//! real system gives the wording, it is used verbatim.

pub mod csv_io;
pub mod generate;
pub mod model;
pub mod search;
pub mod xml;

pub use model::Qualification;
pub use tsunagu_hoken::FieldError;
pub use tsunagu_hoken::insurer::{self, InsurerNumber};

/// Reads an import file: the result XML when its name ends in `.xml`, CSV otherwise.
/// Every problem is listed (`行 3「番号」: …`); a file with any problem yields none of its
/// records, so an import is never half of a file.
pub fn read_import(file_name: &str, text: &str) -> Result<Vec<Qualification>, Vec<String>> {
    if file_name.to_ascii_lowercase().ends_with(".xml") {
        return xml::parse_qualifications(text).map_err(|e| vec![format!("XML: {e}")]);
    }
    let report = csv_io::import_str(text);
    if report.errors.is_empty() {
        Ok(report.records)
    } else {
        Err(report
            .errors
            .iter()
            .map(|e| format!("行 {}「{}」: {}", e.row, e.field, e.message))
            .collect())
    }
}
