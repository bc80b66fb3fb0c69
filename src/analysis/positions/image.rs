//! The similarity images as drawn: their size and pixels, the colour bar, and what each pixel shows
//! (computed from the layout on demand, so the inspector needs no per-pixel table).

use super::similarity::SimilarityMode;
use super::tokens::TokenGrid;
use crate::colormap::{Colormap, Lookup, Normalize, LUT_SIZE};
use crate::error::{Error, Result};
use crate::grid::{MAX_PIXELS, MAX_SIDE};

/// The gaps between tiles: opaque black.
pub(super) const GAP_RGBA: [u8; 4] = [0, 0, 0, 255];

/// What the page needs to draw the colour bar: the map, the value range it spans, and where to put ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct ColorBar {
    pub colormap: Colormap,
    /// The value drawn in the first entry's colour (matplotlib's `vmin`).
    pub min: f64,
    /// The value drawn in the last entry's colour (`vmax`); equal to `min` for constant data.
    pub max: f64,
    /// −1, 0, 1 for cosine; min, 0 (when strictly inside) and max for dot.
    pub ticks: Vec<f64>,
}

impl ColorBar {
    pub fn lut(&self) -> &'static [[u8; 3]; LUT_SIZE] {
        self.colormap.lut()
    }

    pub fn normalize(&self) -> Normalize {
        Normalize { vmin: self.min, vmax: self.max }
    }
}

/// One grid position: its index among the positions (row-major), its place, and its token in the tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridPosition {
    pub index: usize,
    pub row: usize,
    pub col: usize,
    /// Index along the embedding's token axis (`extra + index`).
    pub token: usize,
}

/// What one pixel shows: the similarity of positions `a` and `b`. In the cosine image `a` is the tile's
/// position and `b` the pixel's place inside it; in the dot image `a` is the row and `b` the column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelPair {
    pub a: GridPosition,
    pub b: GridPosition,
    pub value: f64,
}

/// The drawn similarities. Per-pixel facts are computed from the layout rather than stored: [`Self::pair_at`].
#[derive(Debug, Clone)]
pub struct PositionImage {
    pub width: usize,
    pub height: usize,
    /// Row-major RGBA; bad (NaN) values are transparent, as matplotlib draws them.
    pub rgba: Vec<u8>,
    pub mode: SimilarityMode,
    pub grid: TokenGrid,
    /// Pixels between tiles (0 for the dot image).
    pub gap: usize,
    /// The N × N similarities of the N grid positions, row-major: `values[a * N + b]`.
    pub values: Vec<f64>,
    pub colorbar: ColorBar,
}

impl PositionImage {
    /// The positions and value behind pixel (x, y); `None` on a gap or outside the image.
    pub fn pair_at(&self, x: usize, y: usize) -> Option<PixelPair> {
        let (rows, cols) = (self.grid.rows, self.grid.cols);
        let (a, b) = match self.mode {
            SimilarityMode::Cosine => {
                // A tile and the gap after it; `checked_` only because the fields are public.
                let (tile_col, j) =
                    (x.checked_div(cols.saturating_add(self.gap))?, x.checked_rem(cols.saturating_add(self.gap))?);
                let (tile_row, i) =
                    (y.checked_div(rows.saturating_add(self.gap))?, y.checked_rem(rows.saturating_add(self.gap))?);
                if tile_row >= rows || tile_col >= cols || i >= rows || j >= cols {
                    return None;
                }
                (tile_row * cols + tile_col, i * cols + j)
            }
            SimilarityMode::Dot => (y, x),
        };
        let n = self.grid.positions();
        if a >= n || b >= n {
            return None;
        }
        let value = *self.values.get(a * n + b)?;
        Some(PixelPair { a: self.position(a), b: self.position(b), value })
    }

    /// The colour-map entry pixel (x, y) was drawn with, as `Colormap.__call__` chose it.
    pub fn lookup_at(&self, x: usize, y: usize) -> Option<Lookup> {
        self.pair_at(x, y).map(|pair| self.colorbar.normalize().lookup(pair.value))
    }

    fn position(&self, index: usize) -> GridPosition {
        let cols = self.grid.cols;
        GridPosition { index, row: index / cols, col: index % cols, token: self.grid.extra + index }
    }
}

/// (width, height) of the image, checked against what a canvas holds.
pub(super) fn image_size(mode: SimilarityMode, grid: &TokenGrid, gap: usize) -> Result<(usize, usize)> {
    let side =
        |tiles: usize, tile: usize| tiles.checked_mul(tile)?.checked_add(tiles.saturating_sub(1).checked_mul(gap)?);
    let size = match mode {
        SimilarityMode::Cosine => side(grid.cols, grid.cols).zip(side(grid.rows, grid.rows)),
        SimilarityMode::Dot => Some((grid.positions(), grid.positions())),
    };
    match size {
        Some((w, h)) if w <= MAX_SIDE && h <= MAX_SIDE && w.saturating_mul(h) <= MAX_PIXELS => Ok((w, h)),
        _ => Err(Error::TooLarge(format!(
            "A {} × {} grid drawn as the {} image would be larger than a canvas can hold.",
            grid.rows,
            grid.cols,
            mode.name()
        ))),
    }
}

pub(super) fn paint(image: &PositionImage) -> Vec<u8> {
    let (colormap, normalize) = (image.colorbar.colormap, image.colorbar.normalize());
    let mut rgba = Vec::with_capacity(image.width * image.height * 4);
    for y in 0..image.height {
        for x in 0..image.width {
            let color = match image.pair_at(x, y) {
                Some(pair) => colormap.rgba(normalize.lookup(pair.value)),
                None => GAP_RGBA,
            };
            rgba.extend_from_slice(&color);
        }
    }
    rgba
}
