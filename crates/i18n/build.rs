//! Rebuild when a catalogue changes: the messages are compiled into the binary.
fn main() {
    println!("cargo:rerun-if-changed=locales");
}
