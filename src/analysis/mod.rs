//! Views of a checkpoint beyond the filter grid: principal components of the filters, and how alike the
//! position embedding's positions are. Each is plain Rust over decoded values, drawn through the same grid,
//! so the CLI, the page and the tests call the same code.

mod eigen;
pub mod pca;
pub mod positions;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd;
pub mod view;
