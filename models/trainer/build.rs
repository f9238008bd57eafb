//! libxgboost comes from the xgboost-cpu wheel (XGBOOST_LIB_DIR, set by scripts/common.sh): the
//! binary finds it there at run time too.
fn main() {
    println!("cargo:rerun-if-env-changed=XGBOOST_LIB_DIR");
    if let Ok(dir) = std::env::var("XGBOOST_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
