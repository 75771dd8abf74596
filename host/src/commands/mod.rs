//! One module per CLI command; each renders its own output.

pub mod inspect;
