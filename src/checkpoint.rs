//! The library's front door: open a checkpoint from any byte source, list its tensors,
//! pick the patch embedding and render a grid. The CLI and the wasm bindings both use only this.

use crate::container::{self, Container};
use crate::error::{Error, Result};
use crate::grid::{self, Grid, GridOptions};
use crate::kernel::{named_patch_embedding, not_drawable_reason, pick_patch_embedding, Filters};
use crate::source::{ByteSource, Metered, ReadStats};
use crate::tensor::TensorInfo;
use std::rc::Rc;

/// One tensor as listed to users: what it is and whether it can be drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    pub name: String,
    /// `None` if even its header could not be read (see `problem`).
    pub info: Option<TensorInfo>,
    /// Why it cannot be drawn, in a phrase; `None` if it can.
    pub problem: Option<String>,
}

/// A grid together with what it shows.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub grid: Grid,
    pub tensor: TensorInfo,
    /// (kh, kw, c) of one filter.
    pub filter_shape: [usize; 3],
}

pub struct Checkpoint {
    container: Box<dyn Container>,
    stats: Rc<ReadStats>,
    file_size: u64,
}

impl Checkpoint {
    /// Opens a checkpoint; reads only the format's index (for `.npz`, the zip central directory).
    pub fn open(source: impl ByteSource + 'static) -> Result<Checkpoint> {
        let metered = Metered::new(source);
        let stats = metered.stats();
        let file_size = metered.len();
        let container = container::open(Rc::new(metered))?;
        Ok(Checkpoint { container, stats, file_size })
    }

    pub fn format(&self) -> &'static str {
        self.container.format()
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Bytes transferred from the source so far (headers, index and tensors), repeats included.
    pub fn bytes_read(&self) -> u64 {
        self.stats.bytes()
    }

    /// Distinct bytes of the file read so far: how much of it was ever looked at.
    pub fn distinct_bytes_read(&self) -> u64 {
        self.stats.distinct_bytes()
    }

    /// Number of separate reads issued to the source so far.
    pub fn reads(&self) -> u64 {
        self.stats.reads()
    }

    /// Things worth knowing about the file as a whole (the container's notes), one sentence each.
    pub fn notes(&self) -> Vec<String> {
        self.container.notes()
    }

    /// Every tensor, in file order. Reads each entry's small header once, nearby ones together.
    pub fn tensors(&self) -> Vec<TensorEntry> {
        let layout = self.container.layout();
        let names = self.container.names();
        self.container
            .infos()
            .into_iter()
            .zip(names)
            .map(|(info, name)| {
                let name = name.clone();
                match info {
                    Ok(info) => TensorEntry { problem: not_drawable_reason(&info, layout), name, info: Some(info) },
                    Err(e) => TensorEntry { name, info: None, problem: Some(e.to_string()) },
                }
            })
            .collect()
    }

    /// The tensor patchlens draws by default: the patch embedding, if it can find one.
    pub fn default_tensor(&self) -> Option<String> {
        self.default_index().map(|index| self.container.names()[index].clone())
    }

    fn default_index(&self) -> Option<usize> {
        pick_patch_embedding(self.container.names(), self.container.layout(), |i| self.container.info(i).ok())
    }

    fn index_of(&self, name: &str) -> Result<usize> {
        self.container
            .names()
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::NoSuchTensor(format!("There is no tensor named {name} in this file.")))
    }

    /// A tensor's filters as (kh, kw, c, n); `None` picks the default tensor.
    pub fn filters(&self, tensor: Option<&str>) -> Result<(TensorInfo, Filters)> {
        let layout = self.container.layout();
        // A tensor named like the embedding is almost always the pick: reading it first brings its
        // header and data in one read, and the pick below then finds its header already known.
        let prefetched = match tensor {
            None => named_patch_embedding(self.container.names())
                .and_then(|index| self.container.read(index).ok().map(|t| (index, t))),
            Some(_) => None,
        };
        let index = match tensor {
            Some(name) => self.index_of(name)?,
            None => self.default_index().ok_or_else(|| {
                Error::NotDrawable(
                    "No patch embedding was found: no tensor is named embedding/kernel and none is a 4-D float kernel with 1 or 3 input channels.".into(),
                )
            })?,
        };
        let info = self.container.info(index)?;
        if let Some(reason) = not_drawable_reason(&info, layout) {
            return Err(Error::NotDrawable(format!("Tensor {} cannot be drawn: {reason}.", info.name)));
        }
        let tensor = match prefetched {
            Some((read, tensor)) if read == index => tensor,
            _ => self.container.read(index)?,
        };
        Ok((info, Filters::from_tensor(tensor, layout)?))
    }

    /// Renders a tensor's first filters as a grid; `None` picks the default tensor.
    pub fn render(&self, tensor: Option<&str>, options: &GridOptions) -> Result<Rendered> {
        let (info, filters) = self.filters(tensor)?;
        let [kh, kw, c, _] = filters.dims();
        let grid = grid::render(&filters, options)?;
        Ok(Rendered { grid, tensor: info, filter_shape: [kh, kw, c] })
    }
}
