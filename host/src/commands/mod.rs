//! One module per CLI command; each renders its own output.

pub mod channels;
pub mod inspect;
pub mod sync;
