// Names the target triple for `--version`, since Rust exposes only the arch.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=HEALTHPROBE_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
