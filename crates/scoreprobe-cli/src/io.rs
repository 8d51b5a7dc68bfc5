//! Output helpers shared by subcommands: JSON printing (files are written by the library crates'
//! atomic writers: `scoreprobe_data::write_npy`, `scoreprobe_core::fsio`).

/// Prints pretty JSON to stdout; a closed pipe (`| head`) ends output quietly instead of panicking.
pub fn print_json(value: &serde_json::Value) {
    print_text(&serde_json::to_string_pretty(value).expect("JSON values serialise"));
}

/// Prints a line to stdout, ignoring a closed pipe.
pub fn print_text(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
