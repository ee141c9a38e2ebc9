// Generates the bindings with the bindgen program (Debian's bindgen
// package) from libgmem's headers, and links the library.
//
// GMEM_INCLUDE_DIR: where gmem.h is (default /usr/include);
// GMEM_LIB_DIR: where libgmem.so is (default: the linker's search path);
// GMEM_STATIC=1: link libgmem.a instead, and what it needs.
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let include = env::var("GMEM_INCLUDE_DIR").unwrap_or_else(|_| "/usr/include".into());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    let header = format!("{}/gmem.h", include);
    let status = Command::new(env::var("BINDGEN").unwrap_or_else(|_| "bindgen".into()))
        .args([
            &header,
            "--allowlist-function", "gmem_.*",
            "--allowlist-type", "gmem_.*",
            "--allowlist-var", "GMEM_.*",
            "--no-layout-tests",
            "-o",
        ])
        .arg(&out)
        .args(["--", &format!("-I{}", include)])
        .status()
        .expect("bindgen (Debian: apt-get install bindgen)");
    assert!(status.success(), "bindgen failed on {}", header);
    if let Ok(lib) = env::var("GMEM_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", lib);
    }
    if env::var("GMEM_STATIC").map_or(false, |v| v == "1") {
        println!("cargo:rustc-link-lib=static=gmem");
        for lib in ["jemalloc", "numa", "pthread"] {
            println!("cargo:rustc-link-lib={}", lib);
        }
    } else {
        println!("cargo:rustc-link-lib=gmem");
    }
    println!("cargo:rerun-if-env-changed=GMEM_STATIC");
    println!("cargo:rerun-if-env-changed=GMEM_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=GMEM_LIB_DIR");
    println!("cargo:rerun-if-changed={}", header);
}
