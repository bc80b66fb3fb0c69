//! Which of a position embedding's tokens are grid positions: the leading extra tokens (class,
//! distillation) and the rows × columns the rest form, inferred from the count or given by the user.

use crate::error::{Error, Result};

/// Leading extra tokens tried, in order, when none are given: a class token (ViT, DINO, CLIP), none
/// (SigLIP, big_vision), a class and a distillation token (DeiT). The first leaving a square grid wins.
pub const INFERRED_EXTRA_TOKENS: [usize; 3] = [1, 0, 2];

/// The most positions compared at once: the N × N similarities are kept in f64 for the inspector, so
/// 2048 positions are 32 MiB; DINOv2 at 518 px (37 × 37 = 1369) is the largest grid in common use.
pub const MAX_POSITIONS: usize = 2048;

/// How a position embedding's tokens are read: `extra` leading tokens, then `rows` × `cols` positions
/// in row-major order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrid {
    pub extra: usize,
    pub rows: usize,
    pub cols: usize,
    /// Why, in a phrase: "1 class token; 14 × 14 positions".
    pub reason: String,
}

impl TokenGrid {
    /// Grid positions (tokens less the extra ones).
    pub fn positions(&self) -> usize {
        self.rows.saturating_mul(self.cols)
    }

    /// Every token the embedding must have.
    pub fn tokens(&self) -> usize {
        self.extra.saturating_add(self.positions())
    }

    /// The first of [`INFERRED_EXTRA_TOKENS`] that leaves a square grid of `tokens` minus it.
    pub fn infer(tokens: usize) -> Result<TokenGrid> {
        Self::choose(tokens, None, None)
    }

    /// The grid of an embedding with `tokens` tokens: inferred, or as the user gives it (`extra` leading
    /// tokens, `grid` = (rows, columns), either or both); a choice that does not add up is refused.
    pub fn choose(tokens: usize, extra: Option<usize>, grid: Option<(usize, usize)>) -> Result<TokenGrid> {
        let found = match (extra, grid) {
            (None, None) => INFERRED_EXTRA_TOKENS
                .iter()
                .find_map(|&e| square_side(tokens.checked_sub(e)?).map(|g| (e, g, g)))
                .map(|(e, rows, cols)| (e, rows, cols, format!("{}; {rows} × {cols} positions", extra_phrase(e, true))))
                .ok_or_else(|| {
                    Error::NotDrawable(format!(
                        "The position embedding's {tokens} tokens make no square grid after 1, 0 or 2 leading tokens; give the extra tokens and the rows × columns."
                    ))
                })?,
            (Some(e), None) => {
                let left = tokens.checked_sub(e).filter(|&n| n > 0).ok_or_else(|| too_many_extra(tokens, e))?;
                let g = square_side(left).ok_or_else(|| {
                    Error::InvalidOption(format!(
                        "After {e} extra tokens the remaining {left} positions make no square grid; give the rows × columns too."
                    ))
                })?;
                (e, g, g, format!("{}, as given; {g} × {g} positions", extra_phrase(e, false)))
            }
            (given_extra, Some((rows, cols))) => {
                let positions = grid_size(rows, cols)?;
                let e = match given_extra {
                    Some(e) if e.checked_add(positions) == Some(tokens) => e,
                    Some(e) => {
                        return Err(Error::InvalidOption(format!(
                            "{} and a {rows} × {cols} grid make {} tokens, but the position embedding has {tokens}.",
                            capitalized(&extra_phrase(e, false)),
                            e.saturating_add(positions)
                        )))
                    }
                    None => tokens.checked_sub(positions).ok_or_else(|| {
                        Error::InvalidOption(format!(
                            "A {rows} × {cols} grid needs {positions} positions but the position embedding has only {tokens} tokens."
                        ))
                    })?,
                };
                let said = if given_extra.is_some() { ", as given" } else { "" };
                (e, rows, cols, format!("{}{said}; {rows} × {cols} positions, as given", extra_phrase(e, false)))
            }
        };
        let (extra, rows, cols, reason) = found;
        if rows * cols > MAX_POSITIONS {
            return Err(Error::TooLarge(format!(
                "A grid of {rows} × {cols} positions is more than the {MAX_POSITIONS} patchlens compares at once."
            )));
        }
        Ok(TokenGrid { extra, rows, cols, reason })
    }
}

/// g when n = g × g for some g ≥ 1.
fn square_side(n: usize) -> Option<usize> {
    let g = (n as f64).sqrt().round() as usize;
    // The float root can be off by one for huge n; check the neighbours exactly.
    [g.saturating_sub(1), g, g + 1].into_iter().find(|&g| g > 0 && g.checked_mul(g) == Some(n))
}

fn grid_size(rows: usize, cols: usize) -> Result<usize> {
    if rows == 0 || cols == 0 {
        return Err(Error::InvalidOption(format!(
            "A grid of {rows} × {cols} positions is empty; rows and columns must be at least 1."
        )));
    }
    rows.checked_mul(cols).ok_or_else(|| {
        Error::TooLarge(format!("A grid of {rows} × {cols} positions is more than patchlens compares at once."))
    })
}

fn too_many_extra(tokens: usize, extra: usize) -> Error {
    Error::InvalidOption(format!(
        "The position embedding has {tokens} tokens, so {extra} extra tokens would leave no grid positions."
    ))
}

/// "1 class token", "no extra tokens", …; `inferred` names what the usual counts are for.
fn extra_phrase(extra: usize, inferred: bool) -> String {
    match (extra, inferred) {
        (0, _) => "no extra tokens".into(),
        (1, true) => "1 class token".into(),
        (2, true) => "2 extra tokens (class and distillation)".into(),
        (1, false) => "1 extra token".into(),
        (n, _) => format!("{n} extra tokens"),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inferred(tokens: usize) -> (usize, usize, usize) {
        let grid = TokenGrid::infer(tokens).unwrap();
        (grid.extra, grid.rows, grid.cols)
    }

    #[test]
    fn infers_class_none_then_class_and_distillation() {
        assert_eq!(inferred(197), (1, 14, 14)); // ViT-B/16 at 224
        assert_eq!(inferred(196), (0, 14, 14)); // SigLIP B/16 at 224
        assert_eq!(inferred(198), (2, 14, 14)); // DeiT distilled
        assert_eq!(inferred(577), (1, 24, 24));
        assert_eq!(inferred(1370), (1, 37, 37)); // DINOv2 at 518
        assert_eq!(inferred(1), (0, 1, 1));
        assert_eq!(TokenGrid::infer(197).unwrap().reason, "1 class token; 14 × 14 positions");
        assert_eq!(TokenGrid::infer(198).unwrap().reason, "2 extra tokens (class and distillation); 14 × 14 positions");
        assert_eq!(TokenGrid::infer(196).unwrap().reason, "no extra tokens; 14 × 14 positions");
    }

    #[test]
    fn a_count_with_no_square_grid_asks_for_an_override() {
        for tokens in [0, 200, 77] {
            let err = TokenGrid::infer(tokens).unwrap_err();
            assert!(matches!(err, Error::NotDrawable(_)), "{err}");
            assert!(err.to_string().ends_with("rows × columns."), "{err}");
        }
    }

    #[test]
    fn overrides_are_checked_and_said() {
        // 1 + 12 × 16: a non-square grid (a 192 × 256 image at patch 16).
        let grid = TokenGrid::choose(193, None, Some((12, 16))).unwrap();
        assert_eq!((grid.extra, grid.rows, grid.cols), (1, 12, 16));
        assert_eq!(grid.reason, "1 extra token; 12 × 16 positions, as given");
        let grid = TokenGrid::choose(193, Some(1), Some((12, 16))).unwrap();
        assert_eq!(grid.reason, "1 extra token, as given; 12 × 16 positions, as given");
        let grid = TokenGrid::choose(200, Some(4), None).unwrap();
        assert_eq!((grid.extra, grid.rows, grid.cols), (4, 14, 14));
        assert_eq!(grid.reason, "4 extra tokens, as given; 14 × 14 positions");
        // The override wins over the inference: 197 read as 197 positions of one row.
        assert_eq!(TokenGrid::choose(197, Some(0), Some((1, 197))).unwrap().positions(), 197);

        let refused = |extra, grid| {
            let err = TokenGrid::choose(197, extra, grid).unwrap_err();
            let text = err.to_string();
            assert!(text.ends_with('.') && !text.contains("  "), "{text}");
            text
        };
        assert!(refused(Some(3), None).contains("remaining 194 positions make no square grid"));
        assert!(refused(Some(197), None).contains("would leave no grid positions"));
        assert!(refused(Some(300), None).contains("would leave no grid positions"));
        assert!(refused(None, Some((15, 14))).contains("needs 210 positions"));
        assert!(refused(Some(1), Some((14, 15))).starts_with("1 extra token and a 14 × 15 grid make 211 tokens"));
        assert!(refused(None, Some((0, 14))).contains("empty"));
        assert!(matches!(TokenGrid::choose(197, None, Some((usize::MAX, 2))), Err(Error::TooLarge(_))));
        assert!(matches!(TokenGrid::choose(4097, None, None), Err(Error::TooLarge(_))));
    }

    #[test]
    fn square_side_is_exact() {
        assert_eq!(square_side(0), None);
        assert_eq!(square_side(1), Some(1));
        assert_eq!(square_side(15), None);
        assert_eq!(square_side(16), Some(4));
        assert_eq!(square_side(65_535 * 65_535), Some(65_535));
        // Past 2^52 the float root is inexact; the neighbours are checked exactly.
        #[cfg(target_pointer_width = "64")]
        {
            let big = 4_294_967_295usize;
            assert_eq!(square_side(big * big), Some(big));
            assert_eq!(square_side(big * big - 1), None);
        }
    }
}
