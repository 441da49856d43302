//! The volatile binary.
fn main() {}
