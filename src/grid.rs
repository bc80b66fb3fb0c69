//! Lays scaled filters out as one RGBA image: tiles in rows of `columns`, each pixel enlarged
//! `zoom` times (nearest neighbour), `gap` pixels of `gap_color` between tiles and in empty cells.

use crate::error::{Error, Result};
use crate::kernel::Filters;
use crate::scale::Normalize;
use std::ops::Range;

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
/// A caption band holds a line of text; more is a mistake.
pub const MAX_CAPTION: usize = 64;
/// Browsers refuse canvases past 16384 px a side (and some past ~268 M px in all).
pub const MAX_SIDE: usize = 16_384;
pub const MAX_PIXELS: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridOptions {
    /// How many filters to show, from the first.
    pub count: usize,
    pub columns: usize,
    pub zoom: usize,
    pub gap: usize,
    pub gap_color: [u8; 3],
    /// When set, `zoom` is ignored: the zoom is the largest whose grid is at most this many pixels wide.
    pub fit_width: Option<usize>,
    /// Draws each RGB tile as three grey tiles (R, G, B) side by side, `gap` apart, in one cell.
    pub split_channels: bool,
    /// Pixels of gap colour under each row of tiles, for the page to write a caption under each tile.
    pub caption: usize,
}

/// What a grid lays out: `count()` tiles of the same shape, each `[height, width, channels]` bytes (1 channel:
/// grey, 3: RGB) in (y, x, channel) order, made only for the range asked for.
pub trait TileSource {
    fn tile_shape(&self) -> [usize; 3];
    fn count(&self) -> usize;
    fn tiles(&self, range: Range<usize>) -> Vec<Vec<u8>>;
}

impl TileSource for Filters {
    fn tile_shape(&self) -> [usize; 3] {
        let [kh, kw, c, _] = self.dims();
        [kh, kw, c]
    }
    fn count(&self) -> usize {
        self.dims()[3]
    }
    fn tiles(&self, range: Range<usize>) -> Vec<Vec<u8>> {
        Filters::tiles(self, range)
    }
}

/// A kernel's filters normalised one way and shown in an order (`order[k]` is the file index of tile k).
pub struct FilterTiles<'a> {
    pub filters: &'a Filters,
    pub normalize: Normalize,
    pub order: Option<Vec<usize>>,
}

impl TileSource for FilterTiles<'_> {
    fn tile_shape(&self) -> [usize; 3] {
        self.filters.tile_shape()
    }
    fn count(&self) -> usize {
        self.filters.count()
    }
    fn tiles(&self, range: Range<usize>) -> Vec<Vec<u8>> {
        let indices: Vec<usize> = match &self.order {
            Some(order) => order.get(range.start.min(order.len())..range.end.min(order.len())).unwrap_or(&[]).to_vec(),
            None => range.collect(),
        };
        self.filters.tiles_of(&indices, self.normalize)
    }
}

impl Default for GridOptions {
    fn default() -> Self {
        GridOptions {
            count: DEFAULT_COUNT,
            columns: DEFAULT_COLUMNS,
            zoom: DEFAULT_ZOOM,
            gap: DEFAULT_GAP,
            gap_color: DEFAULT_GAP_COLOR,
            fit_width: None,
            split_channels: false,
            caption: 0,
        }
    }
}

/// An option that was out of range for this kernel and the value used instead, with why: the page puts
/// the value back into its field and shows the note; the CLI prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// The option's name: `count`, `columns`, `zoom` or `gap`.
    pub option: &'static str,
    pub used: usize,
    /// Without the option's name, which the page and the CLI each spell their own way:
    /// e.g. "at most 384 — the number of filters shown".
    pub note: String,
}

/// Where every tile goes: the options made to fit the kernel, and the image size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub shown: usize,
    pub columns: usize,
    pub rows: usize,
    pub zoom: usize,
    pub gap: usize,
    /// The caption band under each row, within `MAX_CAPTION`.
    pub caption: usize,
    pub width: usize,
    pub height: usize,
    pub adjustments: Vec<Adjustment>,
}

/// Width or height of `cells` tiles of `tile` pixels with gaps between them; None on overflow.
fn side(cells: usize, tile: usize, gap: usize) -> Option<usize> {
    cells.checked_mul(tile)?.checked_add(cells.saturating_sub(1).checked_mul(gap)?)
}

fn fits(width: Option<usize>, height: Option<usize>) -> bool {
    matches!((width, height), (Some(w), Some(h)) if w <= MAX_SIDE && h <= MAX_SIDE && w.saturating_mul(h) <= MAX_PIXELS)
}

/// Lays out `n` filters of `kh × kw` pixels. Values out of range are brought into range and reported;
/// only a grid too big even at zoom 1 is an error.
pub fn plan(kh: usize, kw: usize, n: usize, options: &GridOptions) -> Result<Plan> {
    plan_parts(kh, kw, 1, n, options)
}

/// As [`plan`], for cells of `parts` tiles side by side (the channels of one filter), `gap` apart.
fn plan_parts(kh: usize, kw: usize, parts: usize, n: usize, options: &GridOptions) -> Result<Plan> {
    if n == 0 {
        return Err(Error::NotDrawable("The kernel has no filters to draw.".into()));
    }
    let mut adjustments = Vec::new();
    let mut clamp = |option: &'static str, value: usize, low: usize, high: usize, why: &str| {
        let used = value.clamp(low, high);
        if used != value {
            let bound = if value < low { "at least" } else { "at most" };
            let why = if why.is_empty() || value < low { String::new() } else { format!(" — {why}") };
            adjustments.push(Adjustment { option, used, note: format!("{bound} {used}{why}") });
        }
        used
    };
    let shown = clamp("count", options.count, 1, n, "the number of filters");
    // More columns than filters is out of range; more than are shown is only laid out narrower (the user
    // may be trying a smaller count and keeps the columns they chose).
    let columns = clamp("columns", options.columns, 1, n, "the number of filters").min(shown);
    // Fitting a width, a filter drawn as `parts` tiles takes a `parts`-th of the columns, so its tiles keep the
    // size they have drawn whole (16 columns of three-tile cells would fit only at zoom 1, a strip of specks).
    let columns = if options.fit_width.is_some() { (columns / parts).max(1) } else { columns };
    let gap = clamp("gap", options.gap, 0, MAX_GAP, "");
    let caption = options.caption.min(MAX_CAPTION);
    let rows = shown.div_ceil(columns);
    let size = |zoom: usize| {
        let cell = side(parts, kw.saturating_mul(zoom), gap).unwrap_or(usize::MAX);
        let row_height = kh.saturating_mul(zoom).saturating_add(caption);
        let (w, h) = (side(columns, cell, gap), side(rows, row_height, gap));
        fits(w, h).then(|| (w.unwrap_or(0), h.unwrap_or(0)))
    };
    // The largest zoom whose grid can be drawn at all (browsers refuse bigger canvases).
    let drawable_zoom = (1..=MAX_ZOOM).rev().find(|&z| size(z).is_some()).ok_or_else(|| {
        Error::InvalidOption(format!(
            "A grid of {shown} filters in {columns} columns would exceed {MAX_SIDE} pixels a side even at zoom 1; show fewer filters or use more columns."
        ))
    })?;
    let zoom = match options.fit_width {
        Some(width) => (1..=drawable_zoom).rev().find(|&z| size(z).is_some_and(|(w, _)| w <= width)).unwrap_or(1),
        None => {
            let why = if drawable_zoom < MAX_ZOOM { "a larger grid would not fit in a browser canvas" } else { "" };
            clamp("zoom", options.zoom, 1, drawable_zoom, why)
        }
    };
    let (width, height) = size(zoom).unwrap_or_default();
    Ok(Plan { shown, columns, rows, zoom, gap, caption, width, height, adjustments })
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
    pub zoom: usize,
    pub gap: usize,
    /// Pixels of caption band under each row.
    pub caption: usize,
    /// Options that were out of range, and the values used instead.
    pub adjustments: Vec<Adjustment>,
}

#[cfg(feature = "png")]
impl Grid {
    /// The grid as a PNG file's bytes: 8-bit RGBA, the pixels exactly.
    pub fn png(&self) -> Result<Vec<u8>> {
        let failed = |e: png::EncodingError| Error::InvalidOption(format!("Could not encode the PNG: {e}."));
        let side = |n: usize| u32::try_from(n).map_err(|_| Error::TooLarge("The grid is too large for a PNG.".into()));
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, side(self.width)?, side(self.height)?);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header().map_err(failed)?.write_image_data(&self.rgba).map_err(failed)?;
        Ok(bytes)
    }
}

/// Draws the first `options.count` filters.
pub fn render(filters: &Filters, options: &GridOptions) -> Result<Grid> {
    render_tiles(filters, options)
}

/// Draws the first `options.count` tiles of any source.
pub fn render_tiles(source: &dyn TileSource, options: &GridOptions) -> Result<Grid> {
    let [kh, kw, c] = source.tile_shape();
    let n = source.count();
    let parts = if options.split_channels && c == 3 { 3 } else { 1 };
    let Plan { shown, columns, rows, zoom, gap, caption, width, height, adjustments } =
        plan_parts(kh, kw, parts, n, options)?;
    let tile_w = kw * zoom;
    let cell_w = parts * tile_w + (parts - 1) * gap;
    let row_pitch = kh * zoom + caption + gap;

    let [r, g, b] = options.gap_color;
    let mut rgba = [r, g, b, 255].repeat(width * height);
    // One zoomed tile row is built once, then copied `zoom` times.
    let mut zoomed_row = vec![0u8; tile_w * 4];
    for (index, tile) in source.tiles(0..shown).into_iter().enumerate() {
        let (cell_x, y0) = ((index % columns) * (cell_w + gap), (index / columns) * row_pitch);
        for part in 0..parts {
            let x0 = cell_x + part * (tile_w + gap);
            for (source_y, source_row) in tile.chunks_exact(kw * c).enumerate() {
                for (pixel, out) in source_row.chunks_exact(c).zip(zoomed_row.chunks_exact_mut(4 * zoom)) {
                    let rgb = match (c, parts) {
                        (1, _) => [pixel[0]; 3],
                        (_, 3) => [pixel[part]; 3],
                        _ => [pixel[0], pixel[1], pixel[2]],
                    };
                    for dot in out.chunks_exact_mut(4) {
                        dot.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
                    }
                }
                for dy in 0..zoom {
                    let start = ((y0 + source_y * zoom + dy) * width + x0) * 4;
                    rgba[start..start + tile_w * 4].copy_from_slice(&zoomed_row);
                }
            }
        }
    }
    Ok(Grid {
        width,
        height,
        rgba,
        filters_shown: shown,
        filters_total: n,
        columns,
        rows,
        zoom,
        gap,
        caption,
        adjustments,
    })
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
        let grid = render(
            &f,
            &GridOptions { count: 5, columns: 5, zoom: 1, gap: 0, gap_color: [0, 0, 0], ..GridOptions::default() },
        )
        .unwrap();
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
        let o = GridOptions { count: 5, columns: 3, zoom: 2, gap: 1, gap_color: [9, 8, 7], ..GridOptions::default() };
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
    fn out_of_range_options_are_brought_into_range_and_reported() {
        let f = ramp_filters(2, 2, 3, 4);
        let grid = render(&f, &GridOptions { count: 128, ..GridOptions::default() }).unwrap();
        assert_eq!((grid.filters_shown, grid.filters_total, grid.columns), (4, 4, 4));
        let notes: Vec<(&str, usize, &str)> =
            grid.adjustments.iter().map(|a| (a.option, a.used, a.note.as_str())).collect();
        assert_eq!(
            notes,
            [("count", 4, "at most 4 — the number of filters"), ("columns", 4, "at most 4 — the number of filters")]
        );
        let low = GridOptions { count: 0, columns: 0, zoom: 0, ..GridOptions::default() };
        let grid = render(&f, &low).unwrap();
        assert_eq!((grid.filters_shown, grid.columns, grid.zoom), (1, 1, 1));
        let notes: Vec<&str> = grid.adjustments.iter().map(|a| a.note.as_str()).collect();
        assert_eq!(notes, ["at least 1", "at least 1", "at least 1"]);
        let few = render(&f, &GridOptions { count: 2, columns: 3, ..GridOptions::default() }).unwrap();
        assert_eq!(
            (few.columns, few.adjustments.len()),
            (2, 0),
            "columns past the count shown: laid out, not adjusted"
        );
        let high = render(&f, &GridOptions { zoom: MAX_ZOOM + 1, gap: MAX_GAP + 1, ..GridOptions::default() }).unwrap();
        assert_eq!((high.zoom, high.gap), (MAX_ZOOM, MAX_GAP));
        assert_eq!(high.adjustments[2].note, format!("at most {MAX_GAP}"));
        assert_eq!(high.adjustments[3].note, format!("at most {MAX_ZOOM}"));
    }

    #[test]
    fn a_zoom_past_the_canvas_limit_becomes_the_largest_that_fits() {
        // 16 columns of 16 px filters: zoom 63 gives 16·1008 + 15·2 = 16158 px, zoom 64 would be 16414.
        let f = ramp_filters(16, 16, 3, 32);
        let grid = render(&f, &GridOptions { zoom: 64, ..GridOptions::default() }).unwrap();
        assert_eq!((grid.zoom, grid.width), (63, 16_158));
        assert_eq!(
            grid.adjustments.last().unwrap().note,
            "at most 63 — a larger grid would not fit in a browser canvas"
        );
        let big = ramp_filters(64, 64, 3, 4096);
        assert!(render(&big, &GridOptions { count: 4096, columns: 4096, zoom: 1, gap: 0, ..GridOptions::default() })
            .is_err());
    }

    #[test]
    fn fit_width_picks_the_largest_zoom_that_fits() {
        // B/16 at 16 columns with 2 px gaps: 16·16·z + 30 ≤ 954 → z = 3 (798 px); zoom 4 would be 1054.
        let f = ramp_filters(16, 16, 3, 128);
        let fitted = |width| render(&f, &GridOptions { fit_width: Some(width), zoom: 9, ..GridOptions::default() });
        let grid = fitted(954).unwrap();
        assert_eq!((grid.zoom, grid.width), (3, 798));
        assert!(grid.adjustments.is_empty(), "the zoom option is not used, so not adjusted");
        assert_eq!(fitted(1054).unwrap().zoom, 4);
        assert_eq!(fitted(10).unwrap().zoom, 1, "never below 1; the stage scrolls then");
        assert_eq!(fitted(usize::MAX).unwrap().zoom, 45, "11550 × 5774 px: zoom 46 passes 64 Mi pixels");
    }

    #[test]
    fn fit_width_with_channels_apart_keeps_the_tiles_size() {
        // S/14, 128 filters, 16 columns in a 954-px box: whole, 16·14·z + 30 ≤ 954 → z = 4 (926 px). Apart,
        // 16 three-tile cells would fit only at zoom 1; 16 / 3 = 5 columns of cells fit at zoom 4 (868 px).
        let f = ramp_filters(14, 14, 3, 128);
        let options = GridOptions { fit_width: Some(954), ..GridOptions::default() };
        assert_eq!(render(&f, &options).unwrap().zoom, 4);
        let apart = render(&f, &GridOptions { split_channels: true, ..options.clone() }).unwrap();
        assert_eq!((apart.columns, apart.zoom, apart.width), (5, 4, 868));
        let fixed = GridOptions { split_channels: true, zoom: 1, ..GridOptions::default() };
        assert_eq!(render(&f, &fixed).unwrap().columns, 16, "without fitting, the columns are as asked");
    }

    #[test]
    fn split_channels_draws_r_g_b_as_grey_tiles_a_gap_apart_in_one_cell() {
        let f = ramp_filters(2, 2, 3, 2);
        let o = GridOptions {
            columns: 2,
            zoom: 1,
            gap: 1,
            gap_color: [9, 9, 9],
            split_channels: true,
            ..GridOptions::default()
        };
        let grid = render(&f, &o).unwrap();
        // A cell is 3 tiles of 2 px with 2 gaps (8 px); two cells and a gap: 17 px.
        assert_eq!((grid.width, grid.height), (17, 2));
        let px = |x: usize, y: usize| &grid.rgba[(y * 17 + x) * 4..(y * 17 + x) * 4 + 4];
        let tile = f.tile(1).unwrap();
        for channel in 0..3 {
            let x = 9 + channel * 3; // second cell
            assert_eq!(px(x + 1, 1), &[tile[9 + channel], tile[9 + channel], tile[9 + channel], 255]);
            if channel < 2 {
                assert_eq!(px(x + 2, 0), &[9, 9, 9, 255], "gap after channel {channel}");
            }
        }
        // Grey filters have one channel: nothing to split.
        let grey = render(&ramp_filters(2, 2, 1, 2), &o).unwrap();
        assert_eq!(grey.width, 5);
    }

    #[test]
    fn filter_tiles_follow_their_order_and_normalisation() {
        let f = ramp_filters(2, 2, 3, 4);
        let reversed = FilterTiles { filters: &f, normalize: Normalize::Filter, order: Some(vec![3, 2, 1, 0]) };
        assert_eq!(reversed.tiles(0..2), vec![f.tile(3).unwrap(), f.tile(2).unwrap()]);
        assert_eq!(reversed.tiles(3..9), vec![f.tile(0).unwrap()], "clamped to the filters there are");
        let global = FilterTiles { filters: &f, normalize: Normalize::Global, order: None };
        // Ramps 0..11 + i over the whole kernel (0..14): filter 3's last value is the kernel's maximum.
        assert_eq!(global.tiles(3..4)[0][11], 255);
        assert_eq!(global.tiles(0..1)[0][0], 0);
        assert!(global.tiles(0..1)[0][11] < 255, "filter 0 is darker than the brightest");
    }

    #[test]
    fn a_caption_band_under_each_row_is_gap_coloured() {
        let f = ramp_filters(2, 2, 1, 4);
        let o = GridOptions { columns: 2, zoom: 1, gap: 1, gap_color: [7, 7, 7], caption: 3, ..GridOptions::default() };
        let grid = render(&f, &o).unwrap();
        assert_eq!((grid.width, grid.height), (5, 2 * (2 + 3) + 1));
        let px = |x: usize, y: usize| &grid.rgba[(y * 5 + x) * 4..(y * 5 + x) * 4 + 4];
        assert_eq!(px(0, 3), &[7, 7, 7, 255], "band under the first row");
        let tile = f.tile(2).unwrap(); // second row starts at 2 + 3 + 1 = 6
        assert_eq!(px(0, 6), &[tile[0], tile[0], tile[0], 255]);
    }

    #[test]
    fn parses_colours() {
        assert_eq!(parse_color("#ff8000").unwrap(), [255, 128, 0]);
        assert_eq!(parse_color("0a0B0c").unwrap(), [10, 11, 12]);
        assert!(parse_color("#fff").is_err());
        assert!(parse_color("#ééé").is_err());
    }
}
