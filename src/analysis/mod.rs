//! Views of a checkpoint beyond the filter grid: principal components of the filters, and how alike the
//! position embedding's positions are. Each is plain Rust over decoded values, drawn through the same grid,
//! so the CLI, the page and the tests call the same code.

mod eigen;
pub mod pca;
pub mod positions;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd;
pub mod view;

/// Filters and positions of the warm-up: big enough that each hot loop runs many times, small enough to take
/// a few milliseconds once optimised.
const WARM_UP_FILTERS: usize = 160;
const WARM_UP_SIDE: usize = 8;
const WARM_UP_POSITIONS: usize = 14;

/// Runs the analysis views once on a small made-up kernel and position embedding. An engine that compiles
/// code in tiers (V8 runs a wasm function's first calls in its baseline compiler and optimises the ones that
/// turn out hot) then has the optimised code ready for the user's first view: in the page, a first B/16
/// principal-components fit took 300–430 ms cold and 160 ms after one earlier fit.
pub fn warm_up() {
    let shape = (WARM_UP_SIDE, WARM_UP_SIDE, 3, WARM_UP_FILTERS);
    let values = crate::warm::numbers(WARM_UP_SIDE * WARM_UP_SIDE * 3 * WARM_UP_FILTERS);
    if let Ok(kernel) = ndarray::Array4::from_shape_vec(shape, values.iter().map(|&v| v as f32).collect()) {
        if let Ok(fit) = pca::Pca::fit(&crate::kernel::Filters::F32(kernel), pca::DEFAULT_COMPONENTS) {
            std::hint::black_box(pca::pca_tiles(&fit));
        }
    }
    let tokens = 1 + WARM_UP_POSITIONS * WARM_UP_POSITIONS;
    let values = crate::warm::numbers(tokens * 32);
    if let Ok(grid) = positions::TokenGrid::choose(tokens, None, None) {
        for mode in [positions::SimilarityMode::Cosine, positions::SimilarityMode::Dot] {
            let options = positions::SimilarityOptions { mode, gap: 0 };
            let _ = std::hint::black_box(positions::render(&values, &[1, tokens, 32], &grid, &options));
        }
    }
}
