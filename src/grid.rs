//! Lays scaled filters out as one RGBA image: tiles in rows of `columns`, each pixel enlarged
//! `zoom` times (nearest neighbour), `gap` pixels of `gap_color` between tiles and in empty cells.

use crate::error::{Error, Result};
use crate::kernel::Filters;

/// The reference notebook's grid: the first 128 filters, 8 rows of 16.
pub const DEFAULT_COUNT: usize = 128;
pub const DEFAULT_COLUMNS: usize = 16;
/// 16×16 filters at 4× make 64 px tiles: readable on a laptop screen without scrolling.
pub const DEFAULT_ZOOM: usize = 4;
pub const DEFAULT_GAP: usize = 2;
/// The page's panel colour, so gaps read as spacing rather than as lines; the CLI uses it too.
pub const DEFAULT_GAP_COLOR: [u8; 3] = [0x1b, 0x1e, 0x24];
/// Larger zooms or gaps make no useful picture and only risk huge allocations.
pub const MAX_ZOOM: usize = 64;
pub const MAX_GAP: usize = 64;
/// Browsers refuse canvases past 16384 px a side (and some past ~268 M px in all).
pub const MAX_SIDE: usize = 16_384;
pub const MAX_PIXELS: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridOptions {
    /// How many filters to show, from the first; clamped to the number there are.
    pub count: usize,
    pub columns: usize,
    pub zoom: usize,
    pub gap: usize,
    pub gap_color: [u8; 3],
}

impl Default for GridOptions {
    fn default() -> Self {
        GridOptions {
            count: DEFAULT_COUNT,
            columns: DEFAULT_COLUMNS,
            zoom: DEFAULT_ZOOM,
            gap: DEFAULT_GAP,
            gap_color: DEFAULT_GAP_COLOR,
        }
    }
}

impl GridOptions {
    fn validate(&self) -> Result<()> {
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(Error::InvalidOption(what.to_string())) };
        check(self.count >= 1, "The filter count must be at least 1.")?;
        check(self.columns >= 1, "The number of columns must be at least 1.")?;
        check((1..=MAX_ZOOM).contains(&self.zoom), &format!("The zoom must be between 1 and {MAX_ZOOM}."))?;
        check(self.gap <= MAX_GAP, &format!("The gap must be at most {MAX_GAP} pixels."))
    }
}

/// Parses `#rrggbb` (or `rrggbb`).
pub fn parse_color(text: &str) -> Result<[u8; 3]> {
    let hex = text.strip_prefix('#').unwrap_or(text);
    let bad = || Error::InvalidOption(format!("The colour '{text}' is not of the form #rrggbb."));
    if hex.len() != 6 || !hex.is_ascii() {
        return Err(bad());
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
    Ok([channel(0)?, channel(2)?, channel(4)?])
}

/// An RGBA image of filters, row-major, 4 bytes a pixel, alpha always 255.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
    pub filters_shown: usize,
    pub filters_total: usize,
    pub columns: usize,
    pub rows: usize,
}

/// Draws the first `options.count` filters.
pub fn render(filters: &Filters, options: &GridOptions) -> Result<Grid> {
    options.validate()?;
    let [kh, kw, c, n] = filters.dims();
    let shown = options.count.min(n);
    if shown == 0 {
        return Err(Error::NotDrawable("The kernel has no filters to draw.".into()));
    }
    let columns = options.columns.min(shown);
    let rows = shown.div_ceil(columns);
    let (tile_w, tile_h) = (kw * options.zoom, kh * options.zoom);
    let side = |cells: usize, tile: usize| cells.checked_mul(tile)?.checked_add((cells - 1).checked_mul(options.gap)?);
    let (width, height) = match (side(columns, tile_w), side(rows, tile_h)) {
        (Some(w), Some(h)) if w <= MAX_SIDE && h <= MAX_SIDE && w * h <= MAX_PIXELS => (w, h),
        _ => {
            return Err(Error::InvalidOption(format!(
                "A grid of {shown} filters at zoom {} would exceed {MAX_SIDE} pixels a side; show fewer filters or lower the zoom.",
                options.zoom
            )))
        }
    };

    let [r, g, b] = options.gap_color;
    let mut rgba = [r, g, b, 255].repeat(width * height);
    // One zoomed tile row is built once, then copied `zoom` times.
    let mut zoomed_row = vec![0u8; tile_w * 4];
    for (index, tile) in filters.tiles(0..shown).into_iter().enumerate() {
        let (x0, y0) = ((index % columns) * (tile_w + options.gap), (index / columns) * (tile_h + options.gap));
        for (source_y, source_row) in tile.chunks_exact(kw * c).enumerate() {
            for (pixel, out) in source_row.chunks_exact(c).zip(zoomed_row.chunks_exact_mut(4 * options.zoom)) {
                let rgb = if c == 1 { [pixel[0]; 3] } else { [pixel[0], pixel[1], pixel[2]] };
                for dot in out.chunks_exact_mut(4) {
                    dot.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
                }
            }
            for dy in 0..options.zoom {
                let start = ((y0 + source_y * options.zoom + dy) * width + x0) * 4;
                rgba[start..start + tile_w * 4].copy_from_slice(&zoomed_row);
            }
        }
    }
    Ok(Grid { width, height, rgba, filters_shown: shown, filters_total: n, columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    /// Filters whose scaled bytes are easy to predict: filter i is a ramp from 0 to 1.
    fn ramp_filters(kh: usize, kw: usize, c: usize, n: usize) -> Filters {
        Filters::F32(Array4::from_shape_fn((kh, kw, c, n), |(y, x, ch, i)| ((y * kw + x) * c + ch + i) as f32))
    }

    #[test]
    fn zero_gap_zoom_one_is_the_tiles_side_by_side() {
        let f = ramp_filters(2, 3, 3, 5);
        let grid = render(&f, &GridOptions { count: 5, columns: 5, zoom: 1, gap: 0, gap_color: [0, 0, 0] }).unwrap();
        assert_eq!((grid.width, grid.height, grid.rows), (15, 2, 1));
        for i in 0..5 {
            let tile = f.tile(i).unwrap();
            for y in 0..2 {
                for x in 0..3 {
                    let p = (y * 15 + i * 3 + x) * 4;
                    let t = (y * 3 + x) * 3;
                    assert_eq!(&grid.rgba[p..p + 4], &[tile[t], tile[t + 1], tile[t + 2], 255]);
                }
            }
        }
    }

    #[test]
    fn layout_zoom_gap_and_empty_cells() {
        let f = ramp_filters(2, 2, 1, 5);
        let o = GridOptions { count: 5, columns: 3, zoom: 2, gap: 1, gap_color: [9, 8, 7] };
        let grid = render(&f, &o).unwrap();
        // 3 columns of 4 px + 2 gaps; 2 rows of 4 px + 1 gap.
        assert_eq!((grid.width, grid.height, grid.columns, grid.rows, grid.filters_shown), (14, 9, 3, 2, 5));
        let px = |x: usize, y: usize| &grid.rgba[(y * 14 + x) * 4..(y * 14 + x) * 4 + 4];
        assert_eq!(px(4, 0), &[9, 8, 7, 255]); // gap column
        assert_eq!(px(13, 8), &[9, 8, 7, 255]); // empty sixth cell
        let tile = f.tile(4).unwrap(); // row 1, column 1: x0 = 5, y0 = 5
        assert_eq!(px(5 + 3, 5 + 3), &[tile[3], tile[3], tile[3], 255]); // grayscale, zoomed
    }

    #[test]
    fn count_is_clamped_and_options_are_checked() {
        let f = ramp_filters(2, 2, 3, 4);
        let grid = render(&f, &GridOptions { count: 128, ..GridOptions::default() }).unwrap();
        assert_eq!((grid.filters_shown, grid.filters_total, grid.columns), (4, 4, 4));
        for bad in [
            GridOptions { count: 0, ..GridOptions::default() },
            GridOptions { columns: 0, ..GridOptions::default() },
            GridOptions { zoom: 0, ..GridOptions::default() },
            GridOptions { zoom: MAX_ZOOM + 1, ..GridOptions::default() },
        ] {
            assert!(matches!(render(&f, &bad), Err(Error::InvalidOption(_))));
        }
        let big = ramp_filters(64, 64, 3, 4096);
        assert!(render(&big, &GridOptions { count: 4096, columns: 4096, zoom: 64, gap: 0, gap_color: [0; 3] }).is_err());
    }

    #[test]
    fn parses_colours() {
        assert_eq!(parse_color("#ff8000").unwrap(), [255, 128, 0]);
        assert_eq!(parse_color("0a0B0c").unwrap(), [10, 11, 12]);
        assert!(parse_color("#fff").is_err());
        assert!(parse_color("#ééé").is_err());
    }
}
