//! Compiles `csrc/flatten.c`, the one-pass copy of a tree-sitter tree into the engine's
//! flat tree, against the tree-sitter sources the `tree-sitter` crate builds: it exports
//! their public `include/` directory, and the internal headers sit beside it in `src/`.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc/flatten.c");
    let Some(include) = env::var_os("DEP_TREE_SITTER_INCLUDE").map(PathBuf::from) else {
        panic!("the tree-sitter crate did not say where its headers are (DEP_TREE_SITTER_INCLUDE)");
    };
    let Some(sources) = include.parent().map(|root| root.join("src")) else {
        panic!(
            "tree-sitter's include directory has no parent: {}",
            include.display()
        );
    };
    cc::Build::new()
        .std("c11")
        .include(&include)
        .include(&sources)
        .define("_POSIX_C_SOURCE", "200112L")
        .define("_DEFAULT_SOURCE", None)
        .flag_if_supported("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-Wno-unused-parameter")
        .file("csrc/flatten.c")
        .compile("volatile-flatten");
}
