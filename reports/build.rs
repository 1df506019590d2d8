//! Links the prebuilt libduckdb and records its directory as an rpath.
fn main() {
    // The prebuilt libduckdb lives outside system paths: record where (README, build notes).
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN:{dir}");
    }
}
