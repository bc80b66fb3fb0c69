//! The analysis views of a checkpoint, handed to the grid as tiles so zoom, gap, columns and fitting work as
//! for filters: the principal components of the filters (one tile per component), and the position
//! embedding's similarity image (one tile per position for `cosine`, one for `dot`).

use super::pca::{pca_tiles, Pca};
use super::positions::{
    self as similarity, pick_position_embedding, tokens_and_width, unusable_reason, ColorBar, PositionImage,
    SimilarityMode, SimilarityOptions, TokenGrid,
};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::grid::{self, Grid, GridOptions, TileSource};
use crate::kernel::{Filters, KernelLayout};
use crate::tensor::TensorInfo;
use std::ops::Range;

/// What the position view draws and how its tokens are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionView {
    pub mode: SimilarityMode,
    /// Leading tokens that are not positions (class, distillation); `None` infers 1, 0 or 2.
    pub extra_tokens: Option<usize>,
    /// Rows × columns of positions, for grids that are not square; `None`: square.
    pub grid: Option<(usize, usize)>,
}

impl Default for PositionView {
    fn default() -> Self {
        PositionView { mode: SimilarityMode::Cosine, extra_tokens: None, grid: None }
    }
}

/// The grid options the view's figure uses unless told otherwise: every position, a row of tiles per grid row,
/// 1-px black gaps (cosine); the one dot image, no gap.
pub fn position_defaults(mode: SimilarityMode, tokens: &TokenGrid) -> GridOptions {
    match mode {
        SimilarityMode::Cosine => GridOptions {
            count: tokens.positions(),
            columns: tokens.cols,
            gap: similarity::DEFAULT_GAP,
            gap_color: [0, 0, 0],
            ..GridOptions::default()
        },
        SimilarityMode::Dot => GridOptions { count: 1, columns: 1, gap: 0, ..GridOptions::default() },
    }
}

/// A drawn position view.
#[derive(Debug, Clone)]
pub struct RenderedPositions {
    pub grid: Grid,
    pub tensor: TensorInfo,
    /// Why this tensor: the name it matched (or "named by you").
    pub reason: String,
    pub tokens: TokenGrid,
    pub mode: SimilarityMode,
    pub colorbar: ColorBar,
    /// The similarity image at zoom 1 with no gaps, for the inspector: `image.pair_at(x, y)`.
    pub image: PositionImage,
}

/// The similarity image cut into its tiles: `cosine` has one tile per position, `dot` one tile.
struct PositionTiles<'a> {
    image: &'a PositionImage,
}

impl TileSource for PositionTiles<'_> {
    fn tile_shape(&self) -> [usize; 3] {
        match self.image.mode {
            SimilarityMode::Cosine => [self.image.grid.rows, self.image.grid.cols, 3],
            SimilarityMode::Dot => [self.image.height, self.image.width, 3],
        }
    }
    fn count(&self) -> usize {
        match self.image.mode {
            SimilarityMode::Cosine => self.image.grid.positions(),
            SimilarityMode::Dot => 1,
        }
    }
    fn tiles(&self, range: Range<usize>) -> Vec<Vec<u8>> {
        let [h, w, _] = self.tile_shape();
        let columns = match self.image.mode {
            SimilarityMode::Cosine => self.image.grid.cols,
            SimilarityMode::Dot => 1,
        };
        range
            .take_while(|&i| i < self.count())
            .map(|i| {
                let (x0, y0) = ((i % columns) * w, (i / columns) * h);
                let mut tile = Vec::with_capacity(h * w * 3);
                for y in y0..y0 + h {
                    let row = &self.image.rgba[(y * self.image.width + x0) * 4..(y * self.image.width + x0 + w) * 4];
                    // matplotlib leaves NaN transparent; on a canvas that is the black of the figure's gaps.
                    row.chunks_exact(4)
                        .for_each(|p| tile.extend_from_slice(if p[3] == 0 { &[0, 0, 0] } else { &p[..3] }));
                }
                tile
            })
            .collect()
    }
}

impl Checkpoint {
    /// The position embedding this checkpoint would show, and why; `None` when no known name is usable.
    pub fn default_position_embedding(&self) -> Option<(String, String)> {
        let names = self.container_names();
        let pick = pick_position_embedding(names, |i| self.container_info(i))?;
        Some((names.get(pick.index)?.clone(), pick.reason))
    }

    /// Draws the position view of `tensor` (`None`: the one found by name) with `options` laid out as a grid.
    pub fn render_positions(
        &self,
        tensor: Option<&str>,
        view: &PositionView,
        options: impl FnOnce(&TokenGrid) -> GridOptions,
    ) -> Result<RenderedPositions> {
        let (name, reason) = match tensor {
            Some(name) => (name.to_string(), "named by you".to_string()),
            None => self.default_position_embedding().ok_or_else(|| {
                Error::NotDrawable(
                    "No position embedding was found: no tensor has a known position-embedding name (pos_embed, posembed_input/pos_embedding, position_embeddings, …); name one with the tensor option.".into(),
                )
            })?,
        };
        let (info, values) = self.tensor_values(&name)?;
        if let Some(why) = unusable_reason(&info) {
            return Err(Error::NotDrawable(format!("Tensor {name} cannot be drawn as position similarities: {why}.")));
        }
        let tokens = tokens_and_width(&info.shape).map(|(tokens, _)| tokens).unwrap_or(0);
        let token_grid = TokenGrid::choose(tokens, view.extra_tokens, view.grid)?;
        let image =
            similarity::render(&values, &info.shape, &token_grid, &SimilarityOptions { mode: view.mode, gap: 0 })?;
        let grid = grid::render_tiles(&PositionTiles { image: &image }, &options(&token_grid))?;
        Ok(RenderedPositions {
            grid,
            tensor: info,
            reason,
            tokens: token_grid,
            mode: view.mode,
            colorbar: image.colorbar.clone(),
            image,
        })
    }
}

impl Checkpoint {
    /// The first `count` principal components of a tensor's filters, from the last fit when it covered them:
    /// redrawing with another zoom or fewer components is then free.
    fn fitted_pca(&self, name: &str, layout: KernelLayout, filters: &Filters, count: usize) -> Result<Pca> {
        let index = self.index_of(name)?;
        if let Some((cached, cached_layout, pca)) = self.last_pca.borrow().as_ref() {
            if (*cached, *cached_layout) == (index, layout) {
                if let Some(leading) = pca.leading(count) {
                    return Ok(leading);
                }
            }
        }
        let pca = Pca::fit(filters, count)?;
        *self.last_pca.borrow_mut() = Some((index, layout, pca.clone()));
        Ok(pca)
    }
}

/// The principal-components figure: the first `components` of the filters, 4 × 7 for the paper's 28.
pub fn pca_defaults(components: usize) -> GridOptions {
    GridOptions { count: components, columns: PCA_COLUMNS.min(components.max(1)), ..GridOptions::default() }
}

/// The paper draws its 28 components in rows of 7.
pub const PCA_COLUMNS: usize = 7;

/// A drawn principal-components view.
#[derive(Debug, Clone)]
pub struct RenderedPca {
    pub grid: Grid,
    pub tensor: TensorInfo,
    pub layout: KernelLayout,
    /// (kh, kw, c) of a component.
    pub filter_shape: [usize; 3],
    /// How many components were computed.
    pub components: usize,
    /// The share of the variance each drawn component explains, in drawing order.
    pub explained_variance_ratio: Vec<f64>,
}

/// Tiles already made: `count` of `shape`, back to back.
struct MadeTiles {
    shape: [usize; 3],
    bytes: Vec<u8>,
}

impl TileSource for MadeTiles {
    fn tile_shape(&self) -> [usize; 3] {
        self.shape
    }
    fn count(&self) -> usize {
        self.bytes.len().checked_div(self.shape.iter().product::<usize>()).unwrap_or(0)
    }
    fn tiles(&self, range: Range<usize>) -> Vec<Vec<u8>> {
        let len = self.shape.iter().product::<usize>();
        range.take_while(|&i| i < self.count()).map(|i| self.bytes[i * len..(i + 1) * len].to_vec()).collect()
    }
}

impl Checkpoint {
    /// Draws the first `components` principal components of a tensor's filters (scikit-learn's
    /// `PCA(svd_solver="full")` in f64), each scaled to bytes as a filter is, laid out by `options`.
    pub fn render_pca(
        &self,
        tensor: Option<&str>,
        layout: Option<KernelLayout>,
        components: usize,
        options: impl FnOnce(usize) -> GridOptions,
    ) -> Result<RenderedPca> {
        let (info, filters, layout) = self.filters_as(tensor, layout)?;
        let pca = self.fitted_pca(&info.name, layout, &filters, components)?;
        let shape = pca.filter_shape();
        let grid = grid::render_tiles(&MadeTiles { shape, bytes: pca_tiles(&pca) }, &options(pca.len()))?;
        let explained_variance_ratio =
            pca.explained_variance_ratio().iter().take(grid.filters_shown).copied().collect();
        Ok(RenderedPca {
            grid,
            tensor: info,
            layout,
            filter_shape: shape,
            components: pca.len(),
            explained_variance_ratio,
        })
    }
}
