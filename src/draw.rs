//! One drawing asked for by option names, as the CLI and the Python package take them: which view, its
//! options, and which grid options the caller gave. The analysis views have figure defaults of their own (the
//! position view's one row per grid row, PCA's 7 to a row); an option the caller named wins over them, one not
//! named does not. Both front ends draw through [`Request::draw`], so the same options give the same pixels.

use crate::analysis::pca::DEFAULT_COMPONENTS;
use crate::analysis::view::{pca_defaults, position_defaults, PositionView, RenderedPca, RenderedPositions};
use crate::checkpoint::{Checkpoint, Rendered};
use crate::error::{Error, Result};
use crate::grid::GridOptions;
use crate::kernel::KernelLayout;
use crate::view::FilterView;

/// Which picture of the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// The filters themselves (the notebook's figure).
    #[default]
    Filters,
    /// The filters' principal components (the ViT paper's Figure 7, left).
    Pca,
    /// How alike the position embedding's positions are (Figure 7, centre).
    Positions,
    /// A − B of two checkpoints of one shape, least similar filters first.
    Difference,
}

impl View {
    pub const NAMES: &'static str = "filters, pca, positions or difference";

    pub fn parse(text: &str) -> Option<View> {
        match text {
            "filters" => Some(View::Filters),
            "pca" => Some(View::Pca),
            "positions" => Some(View::Positions),
            "difference" => Some(View::Difference),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            View::Filters => "filters",
            View::Pca => "pca",
            View::Positions => "positions",
            View::Difference => "difference",
        }
    }
}

/// Everything one drawing needs.
#[derive(Debug, Clone)]
pub struct Request {
    pub view: View,
    /// The tensor to draw (the position embedding, for the position view); `None`: the default.
    pub tensor: Option<String>,
    pub layout: Option<KernelLayout>,
    /// Normalisation, channels and order of the filters view.
    pub filters: FilterView,
    /// How many principal components.
    pub components: usize,
    pub positions: PositionView,
    pub grid: GridOptions,
    /// Which of `grid`'s options the caller gave: `count`, `columns`, `zoom`, `gap`, `gap-color`.
    pub given: Vec<&'static str>,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            view: View::Filters,
            tensor: None,
            layout: None,
            filters: FilterView::default(),
            components: DEFAULT_COMPONENTS,
            positions: PositionView::default(),
            grid: GridOptions::default(),
            given: Vec::new(),
        }
    }
}

/// What was drawn, by view.
#[derive(Debug, Clone)]
pub enum Drawn {
    /// The filters view, or the difference of two checkpoints (`similarity` set).
    Filters(Rendered),
    Pca(RenderedPca),
    Positions(RenderedPositions),
}

impl Drawn {
    pub fn grid(&self) -> &crate::grid::Grid {
        match self {
            Drawn::Filters(r) => &r.grid,
            Drawn::Pca(r) => &r.grid,
            Drawn::Positions(r) => &r.grid,
        }
    }

    /// The grid alone, for a caller that keeps it (the Python binding's `NativeGrid`).
    pub fn into_grid(self) -> crate::grid::Grid {
        match self {
            Drawn::Filters(r) => r.grid,
            Drawn::Pca(r) => r.grid,
            Drawn::Positions(r) => r.grid,
        }
    }

    /// What the picture shows, in a phrase: `embedding/kernel float32 16×16×3×768 (HWIO), 128 of 768 filters`.
    pub fn summary(&self) -> String {
        match self {
            Drawn::Filters(drawn) => {
                let (t, grid) = (&drawn.tensor, &drawn.grid);
                let layout = drawn.layout.name().to_uppercase();
                let (shown, total) = (grid.filters_shown, grid.filters_total);
                format!("{} {} {} ({layout}), {shown} of {total} filters", t.name, t.dtype, t.shape_text())
            }
            Drawn::Pca(drawn) => {
                let t = &drawn.tensor;
                let explained: f64 = drawn.explained_variance_ratio.iter().sum();
                format!(
                    "{} {} {} ({}), {} of {} principal components, {:.1} % of the variance",
                    t.name,
                    t.dtype,
                    t.shape_text(),
                    drawn.layout.name().to_uppercase(),
                    drawn.grid.filters_shown,
                    drawn.components,
                    100.0 * explained,
                )
            }
            Drawn::Positions(drawn) => {
                let t = &drawn.tensor;
                let (mode, reason, tokens) = (drawn.mode.name(), &drawn.reason, &drawn.tokens.reason);
                format!("{} {} {}, position {mode} ({reason}; {tokens})", t.name, t.dtype, t.shape_text())
            }
        }
    }
}

impl Request {
    /// How many checkpoints the view draws from.
    pub fn checkpoints(&self) -> usize {
        if self.view == View::Difference {
            2
        } else {
            1
        }
    }

    /// Draws `a` (and, for the difference view, `a − b`).
    pub fn draw(&self, a: &Checkpoint, b: Option<&Checkpoint>) -> Result<Drawn> {
        let tensor = self.tensor.as_deref();
        match self.view {
            View::Filters => Ok(Drawn::Filters(a.render_view(tensor, self.layout, &self.filters, &self.grid)?)),
            View::Difference => {
                let b = b.ok_or_else(|| {
                    Error::InvalidOption("The difference view draws two checkpoints, A − B; give a second one.".into())
                })?;
                let drawn = crate::compare::render_difference(a, b, [tensor, None], [self.layout, None], &self.grid)?;
                Ok(Drawn::Filters(drawn))
            }
            View::Pca => {
                let options = |k: usize| self.given_or(pca_defaults(k));
                Ok(Drawn::Pca(a.render_pca(tensor, self.layout, self.components, options)?))
            }
            View::Positions => {
                let options = |tokens: &_| self.given_or(position_defaults(self.positions.mode, tokens));
                Ok(Drawn::Positions(a.render_positions(tensor, &self.positions, options)?))
            }
        }
    }

    /// A figure's own grid options, with what the caller gave instead; zoom always comes from the caller.
    fn given_or(&self, figure: GridOptions) -> GridOptions {
        let given = |name: &str| self.given.contains(&name);
        let pick = |name: &str, ours: usize, theirs: usize| if given(name) { ours } else { theirs };
        GridOptions {
            count: pick("count", self.grid.count, figure.count),
            columns: pick("columns", self.grid.columns, figure.columns),
            gap: pick("gap", self.grid.gap, figure.gap),
            gap_color: if given("gap-color") { self.grid.gap_color } else { figure.gap_color },
            ..self.grid.clone()
        }
    }
}
