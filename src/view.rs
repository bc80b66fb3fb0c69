//! What a panel shows of a kernel beyond the notebook's grid: the filters view's normalisation, whether
//! each filter's channels are drawn apart, and the order of the tiles. Each is byte-exact against the numpy
//! formula in README ("Views").

use crate::grid::FilterTiles;
use crate::kernel::Filters;
use crate::scale::Normalize;

/// The order filters are shown in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// As the file holds them (the notebook's).
    #[default]
    File,
    /// By L2 norm of the raw filter, largest first, ties in file order.
    Norm,
}

impl Order {
    pub const ALL: [Order; 2] = [Order::File, Order::Norm];

    pub fn name(self) -> &'static str {
        match self {
            Order::File => "file",
            Order::Norm => "norm",
        }
    }

    pub fn parse(text: &str) -> Option<Order> {
        Order::ALL.into_iter().find(|o| o.name() == text)
    }
}

/// The filters view's options; the default is the notebook's grid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterView {
    pub normalize: Normalize,
    /// Each filter as three grey tiles (R, G, B) side by side.
    pub channels: bool,
    pub order: Order,
}

impl FilterView {
    /// The tiles this view draws from `filters`, and the file index of each in drawing order.
    pub fn tiles<'a>(&self, filters: &'a Filters) -> (FilterTiles<'a>, Vec<usize>) {
        let order = match self.order {
            Order::File => None,
            Order::Norm => Some(filters.norm_order()),
        };
        let indices = order.clone().unwrap_or_else(|| (0..filters.dims()[3]).collect());
        (FilterTiles { filters, normalize: self.normalize, order }, indices)
    }
}
