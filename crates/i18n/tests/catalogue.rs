//! Every message key the code and templates use exists in both catalogues, so no page ever
//! shows a raw key.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use tsunagu_i18n::{Lang, has_key};

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// Top-level sections of the Japanese catalogue (`error`, `sms`, …).
fn sections(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("i18n/locales/ja.yml"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('_') && l.ends_with(':'))
        .map(|l| l.trim_end_matches(':').to_string())
        .collect()
}

/// Quoted tokens like `"error.phone.invalid"` whose first part is a catalogue section.
fn keys_in(text: &str, sections: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for piece in text.split('"').skip(1).step_by(2) {
        let Some((head, _)) = piece.split_once('.') else {
            continue;
        };
        let well_formed = piece
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if well_formed && !piece.ends_with('.') && sections.iter().any(|s| s == head) {
            out.push(piece.to_string());
        }
    }
    out
}

#[test]
fn every_used_key_is_in_both_catalogues() {
    // The tree the test runs in (cargo and nextest set this when they run it), not the one
    // it was compiled in: clones sharing a target directory share this binary.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    let root = manifest.parent().unwrap().to_path_buf();
    let sections = sections(&root);
    let mut paths = Vec::new();
    files(&root, "rs", &mut paths);
    // Every web crate's templates (the platform's, the eligibility service's, …).
    for krate in std::fs::read_dir(&root).unwrap().flatten() {
        files(&krate.path().join("templates"), "html", &mut paths);
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    // Job kinds (`const KIND: &'static str = "booking.remind"`) share the dotted shape.
    let mut job_kinds = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap();
        for piece in text.split("const KIND: &'static str = \"").skip(1) {
            job_kinds.push(piece.split('"').next().unwrap_or("").to_string());
        }
        // Live event kinds (`kind: "booking.created".into()`) likewise.
        for piece in text.split("kind: \"").skip(1) {
            job_kinds.push(piece.split('"').next().unwrap_or("").to_string());
        }
        // …and as passed to `AppState::tell_facility(facility, "booking.changed", id)`.
        // …and to the booking service's `self.tell(facility, account, "booking.cancelled", id)`
        // and the visits' `self.tell_guest(visit, "visit.guest_admitted", guest)`.
        for opener in ["tell_facility(", ".tell(", ".tell_guest("] {
            for call in text.split(opener).skip(1) {
                let args = call.split(';').next().unwrap_or("");
                job_kinds.extend(args.split('"').skip(1).step_by(2).map(str::to_string));
            }
        }
    }
    for p in paths {
        if p.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for key in keys_in(&text, &sections) {
            // Template file names and job kinds share the dotted shape but are not keys.
            // Audit actions (`staff.login`) are keys under `audit_action.`.
            if key.ends_with(".html")
                || job_kinds.contains(&key)
                || key.starts_with("test.")
                || has_key(Lang::Ja, &format!("audit_action.{key}"))
            {
                continue;
            }
            checked += 1;
            for lang in [Lang::Ja, Lang::En] {
                if !has_key(lang, &key) {
                    missing.push(format!("{}: {key} ({})", p.display(), lang.code()));
                }
            }
        }
    }
    assert!(checked > 200, "the scan found the keys ({checked})");
    assert!(missing.is_empty(), "missing keys:\n{}", missing.join("\n"));
}

#[test]
fn audit_actions_shown_to_patients_are_translated() {
    for action in ["patient.view", "patient.update", "patient.list"] {
        assert!(has_key(Lang::Ja, &format!("audit_action.{action}")));
        assert!(has_key(Lang::En, &format!("audit_action.{action}")));
    }
}
