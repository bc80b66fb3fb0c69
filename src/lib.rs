//! patchlens: see what a vision model's first layer learned.
//!
//! Data flows one way: bytes ([`source`]) → container ([`container`]: npz, npy) → tensor
//! ([`tensor`]) → filters ([`kernel`]) → scaled tiles ([`scale`]) → RGBA grid ([`grid`]).
//! [`Checkpoint`] ties the steps together; the CLI and the browser bindings (`web`, wasm32 only)
//! are thin layers over it.

// Without `full` (the page's small first module) most readers and views are compiled but never called: the
// linker drops them, and the compiler's warnings about them say nothing.
#![cfg_attr(not(feature = "full"), allow(dead_code, unused_imports, unused_variables))]

pub mod analysis;
pub mod checkpoint;
pub mod colormap;
pub mod compare;
pub mod container;
pub mod draw;
pub mod error;
pub mod fileset;
#[doc(hidden)]
pub mod fuzzing;
pub mod grid;
pub mod kernel;
pub mod listing;
#[cfg(not(target_arch = "wasm32"))]
pub mod local;
pub mod natural;
pub mod pick;
pub mod remote;
pub mod scale;
pub mod sorting;
pub mod source;
pub mod tensor;
pub mod timing;
pub mod view;
pub mod warm;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use checkpoint::{Checkpoint, Opened, Rendered, TensorEntry};
pub use error::{Error, Result};
pub use grid::{Grid, GridOptions};
pub use kernel::{Filters, KernelLayout};
pub use listing::{CheckpointListing, ListedTensor, Listing};
pub use scale::Normalize;
#[cfg(not(target_arch = "wasm32"))]
pub use source::FileSource;
pub use source::{ByteSource, SliceSource};
pub use view::{FilterView, Order};
