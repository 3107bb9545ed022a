//! Generates include/luna.h from the `extern "C"` functions with cbindgen.

fn main() {
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // A versioned soname lets installed programs keep working across compatible upgrades.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libluna.so.{major}");
    }
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml"))
        .expect("read cbindgen.toml");
    let out = std::env::var("LUNA_HEADER_OUT").unwrap_or(format!("{crate_dir}/include/luna.h"));
    match cbindgen::generate_with_config(&crate_dir, config) {
        Ok(bindings) => {
            bindings.write_to_file(out);
        }
        Err(err) => println!("cargo:warning=cbindgen could not generate the header: {err}"),
    }
}
