//! Views of the filters beyond the grid (issue 7): each is a plain function of [`Filters`](crate::Filters)
//! whose result is drawn with the same tiles and grid as the filters themselves.

pub mod pca;
