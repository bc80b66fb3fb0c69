//! How alike a position embedding's positions are, as an image: the cosine similarity of each position
//! with every other, one tile per position in `viridis` over [−1, 1] (the ViT paper's Figure 7), or the
//! raw Gram matrix P·Pᵀ as one image in `inferno` over the data's range (the probing-vits notebook).

use super::image::{image_size, paint, ColorBar, PositionImage};
use super::tokens::{TokenGrid, MAX_POSITIONS};
use super::tokens_and_width;
use crate::colormap::Colormap;
use crate::error::{Error, Result};
use crate::grid::MAX_GAP;

/// Pixels between the cosine image's tiles, as in the paper's figure.
pub const DEFAULT_GAP: usize = 1;

/// Dot-product accumulators: enough independent sums to keep two vector adders busy.
const LANES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimilarityMode {
    /// cos(p_a, p_b), one g × g tile per position a, coloured by `viridis` over [−1, 1].
    Cosine,
    /// p_a · p_b as one N × N image (row a, column b), coloured by `inferno` over the data's min and max.
    Dot,
}

impl SimilarityMode {
    pub fn name(self) -> &'static str {
        match self {
            SimilarityMode::Cosine => "cosine",
            SimilarityMode::Dot => "dot",
        }
    }

    pub fn parse(text: &str) -> Option<SimilarityMode> {
        match text.to_ascii_lowercase().as_str() {
            "cosine" => Some(SimilarityMode::Cosine),
            "dot" => Some(SimilarityMode::Dot),
            _ => None,
        }
    }

    pub fn colormap(self) -> Colormap {
        match self {
            SimilarityMode::Cosine => Colormap::Viridis,
            SimilarityMode::Dot => Colormap::Inferno,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimilarityOptions {
    pub mode: SimilarityMode,
    /// Pixels between cosine tiles (at most `grid::MAX_GAP`); the dot image has no tiles and ignores it.
    pub gap: usize,
}

impl Default for SimilarityOptions {
    fn default() -> Self {
        SimilarityOptions { mode: SimilarityMode::Cosine, gap: DEFAULT_GAP }
    }
}

/// Draws the similarities of a position embedding's grid positions. `values` are the embedding in C
/// order, of `shape` (tokens, width) or (1, tokens, width); `grid` says which tokens are positions.
pub fn render(values: &[f64], shape: &[usize], grid: &TokenGrid, options: &SimilarityOptions) -> Result<PositionImage> {
    let (tokens, width) = tokens_and_width(shape).ok_or_else(|| {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        Error::NotDrawable(format!(
            "A position embedding is (tokens, width) or (1, tokens, width); this one is {}.",
            dims.join(" × ")
        ))
    })?;
    if tokens == 0 || width == 0 {
        return Err(Error::NotDrawable(format!("The position embedding ({tokens} × {width}) is empty.")));
    }
    if tokens.checked_mul(width) != Some(values.len()) {
        return Err(Error::Malformed(format!(
            "The position embedding has {} values but its shape {tokens} × {width} needs {}.",
            values.len(),
            tokens.saturating_mul(width)
        )));
    }
    if grid.rows == 0 || grid.cols == 0 || grid.extra.checked_add(grid.rows.saturating_mul(grid.cols)) != Some(tokens) {
        return Err(Error::InvalidOption(format!(
            "{} extra tokens and a {} × {} grid do not make the position embedding's {tokens} tokens.",
            grid.extra, grid.rows, grid.cols
        )));
    }
    if options.gap > MAX_GAP {
        return Err(Error::InvalidOption(format!(
            "A gap of {} pixels is more than the {MAX_GAP} allowed.",
            options.gap
        )));
    }
    let n = grid.positions();
    if n > MAX_POSITIONS {
        return Err(Error::TooLarge(format!(
            "A grid of {n} positions is more than the {MAX_POSITIONS} patchlens compares at once."
        )));
    }
    let positions = &values[grid.extra * width..tokens * width];
    let (similarities, colorbar) = match options.mode {
        SimilarityMode::Cosine => {
            let colorbar =
                ColorBar { colormap: options.mode.colormap(), min: -1.0, max: 1.0, ticks: vec![-1.0, 0.0, 1.0] };
            (gram(&unit_rows(positions, width), n, width), colorbar)
        }
        SimilarityMode::Dot => {
            let similarities = gram(positions, n, width);
            let colorbar = dot_colorbar(&similarities)?;
            (similarities, colorbar)
        }
    };
    let gap = if options.mode == SimilarityMode::Cosine { options.gap } else { 0 };
    let (image_width, image_height) = image_size(options.mode, grid, gap)?;
    let mut image = PositionImage {
        width: image_width,
        height: image_height,
        rgba: Vec::new(),
        mode: options.mode,
        grid: grid.clone(),
        gap,
        values: similarities,
        colorbar,
    };
    image.rgba = paint(&image);
    Ok(image)
}

/// Each row divided by its length, as `P / np.linalg.norm(P, axis=1, keepdims=True)`; a zero row becomes
/// NaN (0 / 0), so its similarities are bad values, drawn transparent.
fn unit_rows(rows: &[f64], width: usize) -> Vec<f64> {
    rows.chunks_exact(width)
        .flat_map(|row| {
            let length = dot(row, row).sqrt();
            row.iter().map(move |v| v / length)
        })
        .collect()
}

/// The n × n matrix of dot products of `rows` (n rows of `width`), computed once per pair and mirrored.
fn gram(rows: &[f64], n: usize, width: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for (a, row_a) in rows.chunks_exact(width).enumerate() {
        for (b, row_b) in rows.chunks_exact(width).enumerate().skip(a) {
            let value = dot(row_a, row_b);
            out[a * n + b] = value;
            out[b * n + a] = value;
        }
    }
    out
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut sums = [0.0f64; LANES];
    let (x_lanes, y_lanes) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let tail: f64 = x_lanes.remainder().iter().zip(y_lanes.remainder()).map(|(a, b)| a * b).sum();
    for (xs, ys) in x_lanes.zip(y_lanes) {
        for k in 0..LANES {
            sums[k] += xs[k] * ys[k];
        }
    }
    sums.iter().sum::<f64>() + tail
}

/// The dot image's range: the finite values' min and max. Constant data gets min = max, which
/// matplotlib's `Normalize` maps to 0, so every pixel takes the first colour (no NaN is made).
fn dot_colorbar(values: &[f64]) -> Result<ColorBar> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (min, max) = finite
        .fold(None, |range: Option<(f64, f64)>, v| match range {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .ok_or_else(|| {
            Error::NotDrawable(
                "The position embedding's dot products are all NaN or infinite, so they have no range to colour."
                    .into(),
            )
        })?;
    let mut ticks = vec![min];
    if min < 0.0 && 0.0 < max {
        ticks.push(0.0);
    }
    if max > min {
        ticks.push(max);
    }
    Ok(ColorBar { colormap: SimilarityMode::Dot.colormap(), min, max, ticks })
}

#[cfg(test)]
mod tests {
    use super::super::image::GAP_RGBA;
    use super::*;
    use crate::colormap::Lookup;

    fn grid(tokens: usize) -> TokenGrid {
        TokenGrid::infer(tokens).unwrap()
    }

    /// A 1 + 2 × 3 embedding of width 2: position (r, c) points at angle 45° × (r × 3 + c).
    fn angles() -> (Vec<f64>, Vec<usize>) {
        let mut values = vec![9.0, 9.0]; // the class token, which must not be drawn
        for k in 0..6 {
            let angle = std::f64::consts::FRAC_PI_4 * k as f64;
            values.extend([2.0 * angle.cos(), 2.0 * angle.sin()]);
        }
        (values, vec![1, 7, 2])
    }

    #[test]
    fn cosine_tiles_follow_the_grid_with_gaps() {
        let (values, shape) = angles();
        let grid = TokenGrid::choose(7, Some(1), Some((2, 3))).unwrap();
        let image = render(&values, &shape, &grid, &SimilarityOptions::default()).unwrap();
        // 2 rows of 3 tiles, each 2 × 3 pixels, 1-pixel gaps.
        assert_eq!((image.width, image.height), (3 * 3 + 2, 2 * 2 + 1));
        assert_eq!(image.rgba.len(), image.width * image.height * 4);
        // Tile (1, 0) is position 3 (135°); its pixel (0, 1) is position 1 (45°): cos 90° = 0.
        let pair = image.pair_at(1, 3).unwrap();
        assert_eq!((pair.a.index, pair.a.row, pair.a.col, pair.a.token), (3, 1, 0, 4));
        assert_eq!((pair.b.index, pair.b.row, pair.b.col), (1, 0, 1));
        assert!(pair.value.abs() < 1e-15, "{}", pair.value);
        assert_eq!(image.lookup_at(1, 3), Some(Lookup::Entry(128)));
        // Each tile's own position is 1 (the last entry), the opposite direction −1 (the first).
        assert_eq!(image.lookup_at(0, 0).and_then(Lookup::entry), Some(255));
        let opposite = image.pair_at(6, 1).unwrap(); // tile (0, 1) is 45°; its pixel (1, 2) is 225°
        assert_eq!((opposite.a.index, opposite.b.index), (1, 5));
        assert_eq!(image.lookup_at(6, 1).and_then(Lookup::entry), Some(0));
        // 45° against 180°: cos 135° ≈ −0.7071, entry ⌊(1 − 0.7071) / 2 × 256⌋ = 37.
        assert_eq!(image.lookup_at(5, 1), Some(Lookup::Entry(37)));
        // Gaps: column 3 and row 2 are black and say nothing.
        assert_eq!(image.pair_at(3, 0), None);
        assert_eq!(image.pair_at(0, 2), None);
        assert_eq!(&image.rgba[(2 * image.width) * 4..][..4], &GAP_RGBA);
        // Pixel colours are the table's entries.
        let at = |x: usize, y: usize| image.rgba[(y * image.width + x) * 4..][..4].to_vec();
        let lut = Colormap::Viridis.lut();
        assert_eq!(at(1, 3), [lut[128][0], lut[128][1], lut[128][2], 255]);
        assert_eq!(image.colorbar.ticks, [-1.0, 0.0, 1.0]);
        assert_eq!(image.pair_at(image.width, 0), None);
    }

    #[test]
    fn dot_is_the_gram_matrix_without_extra_tokens() {
        let (values, shape) = angles();
        let grid = TokenGrid::choose(7, Some(1), Some((2, 3))).unwrap();
        let options = SimilarityOptions { mode: SimilarityMode::Dot, gap: 5 };
        let image = render(&values, &shape, &grid, &options).unwrap();
        assert_eq!((image.width, image.height, image.gap), (6, 6, 0));
        // Every position has length 2: the Gram matrix runs from −4 to 4.
        let bar = &image.colorbar;
        assert!((bar.min + 4.0).abs() < 1e-12 && (bar.max - 4.0).abs() < 1e-12, "{bar:?}");
        assert_eq!(bar.ticks, [bar.min, 0.0, bar.max]);
        let pair = image.pair_at(4, 0).unwrap();
        assert_eq!((pair.a.index, pair.b.index, pair.b.token), (0, 4, 5));
        assert_eq!(pair.value, -4.0);
        assert_eq!(image.lookup_at(4, 0), Some(Lookup::Entry(0)));
        assert_eq!(image.lookup_at(2, 2), Some(Lookup::Entry(255)));
        assert_eq!(image.colorbar.colormap, Colormap::Inferno);
    }

    #[test]
    fn constant_dot_products_take_the_first_colour() {
        let values = vec![0.5; 4 * 3];
        let options = SimilarityOptions { mode: SimilarityMode::Dot, ..Default::default() };
        let image = render(&values, &[4, 3], &grid(4), &options).unwrap();
        assert_eq!((image.colorbar.min, image.colorbar.max, image.colorbar.ticks.clone()), (0.75, 0.75, vec![0.75]));
        assert!(image.values.iter().all(|v| *v == 0.75));
        let first = Colormap::Inferno.rgba(Lookup::Entry(0));
        assert!(image.rgba.chunks(4).all(|p| p == first));
    }

    #[test]
    fn a_zero_position_is_bad_not_a_crash() {
        // 2 × 2 positions, no class token; position 2 is all zeros.
        let values = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0];
        let image = render(&values, &[1, 4, 2], &grid(4), &SimilarityOptions::default()).unwrap();
        assert_eq!(image.lookup_at(0, 0), Some(Lookup::Entry(255)));
        // Tile (1, 0) is position 2: every pixel bad, transparent.
        for (x, y) in [(0, 3), (1, 3), (0, 4), (1, 4)] {
            assert_eq!(image.lookup_at(x, y), Some(Lookup::Bad), "({x}, {y})");
            assert_eq!(&image.rgba[(y * image.width + x) * 4..][..4], &[0, 0, 0, 0]);
        }
        // And position 2 inside the other tiles: pixel (0, 1) of tile (0, 1).
        assert_eq!(image.lookup_at(3, 1), Some(Lookup::Bad));
        let dot = SimilarityOptions { mode: SimilarityMode::Dot, gap: 1 };
        assert_eq!(render(&values, &[4, 2], &grid(4), &dot).unwrap().colorbar.min, -1.0);
        let nan = [f64::NAN; 8];
        assert!(matches!(render(&nan, &[4, 2], &grid(4), &dot), Err(Error::NotDrawable(_))));
    }

    #[test]
    fn refuses_what_does_not_add_up_with_a_sentence() {
        let values = vec![0.1; 5 * 2];
        let options = SimilarityOptions::default();
        let cases = [
            render(&values, &[5, 3], &grid(5), &options),
            render(&values, &[1, 1, 5, 2], &grid(5), &options),
            render(&values, &[5, 2], &grid(4), &options),
            render(&[], &[5, 0], &grid(5), &options),
            render(&values, &[5, 2], &grid(5), &SimilarityOptions { gap: MAX_GAP + 1, ..options }),
        ];
        for result in cases {
            let text = result.unwrap_err().to_string();
            assert!(text.ends_with('.') && text.len() > 20, "{text}");
        }
        // 1 × 2048 positions: each tile would be 2048 pixels wide, 2048 of them in a row.
        let wide = TokenGrid::choose(2048, Some(0), Some((1, 2048))).unwrap();
        let err = render(&vec![0.1; 2048], &[2048, 1], &wide, &options).unwrap_err();
        assert!(matches!(err, Error::TooLarge(_)), "{err}");
    }

    #[test]
    fn dot_products_sum_every_element() {
        for len in [0, 1, 7, 8, 9, 17, 64] {
            let x: Vec<f64> = (0..len).map(|i| i as f64).collect();
            let want: f64 = x.iter().map(|v| v * v).sum();
            assert_eq!(dot(&x, &x), want, "{len}");
        }
    }
}
