//! Views of a checkpoint beyond the filter grid (issue 7). Each is plain Rust over decoded values and
//! their shape, so the CLI, the page and the tests call the same code.

pub mod positions;
pub mod view;
