//! Replays every saved fuzz input through the same checks the fuzz targets
//! run (`fuzz/checks.rs`), so that `cargo test` keeps what fuzzing found
//! without nightly or cargo-fuzz: `fuzz/corpus/TARGET/` (minimised by
//! `cargo fuzz cmin`) and `fuzz/regressions/TARGET/` (hand seeds and every
//! finding, which cmin must not drop). `make fuzz` grows the corpora.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

#[test]
fn saved_fuzz_inputs_still_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    let mut failed = Vec::new();
    for (name, check) in checks::ALL {
        for kind in ["corpus", "regressions"] {
            let dir = root.join(kind).join(name);
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e} (every fuzz target keeps both)", dir.display()))
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            assert!(!files.is_empty(), "{}: empty", dir.display());
            for file in &files {
                let data = std::fs::read(file).unwrap();
                if std::panic::catch_unwind(|| check(&data)).is_err() {
                    failed.push(format!("{name}: {} (input {:?})", file.display(), String::from_utf8_lossy(&data)));
                }
                replayed += 1;
            }
        }
    }
    eprintln!("replayed {replayed} saved fuzz inputs");
    assert!(failed.is_empty(), "{} saved inputs fail their check:\n{}", failed.len(), failed.join("\n"));
}
