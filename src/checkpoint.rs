//! The library's front door: open a checkpoint from any byte source, list its tensors,
//! pick the patch embedding and render a grid. The CLI and the wasm bindings both use only this.

use crate::analysis::pca::Pca;
use crate::container::{self, Container, NamedSource};
use crate::error::{Error, Result};
use crate::fileset;
use crate::grid::{self, Grid, GridOptions};
use crate::kernel::{infer_layout, not_drawable_reason, Filters, KernelLayout};
use crate::pick::{likely_patch_embedding, pick_patch_embedding_preferring, recognize, Pick};
use crate::scale::FilterStats;
use crate::scale::Normalize;
use crate::source::{ByteSource, Metered, ReadStats};
use crate::tensor::{element_count, MemoryOrder, Tensor, TensorInfo, Values, MAX_TENSOR_BYTES};
use crate::timing::{self, Steps};
use crate::view::{FilterView, Order};
use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

/// One tensor as listed to users: what it is and whether it can be drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    pub name: String,
    /// `None` if even its header could not be read (see `problem`).
    pub info: Option<TensorInfo>,
    /// Why it cannot be drawn, in a phrase; `None` if it can.
    pub problem: Option<String>,
    /// How its axes are read, for 4-D tensors: stated by the format, or inferred from the shape.
    pub layout: Option<KernelLayout>,
    /// True when `layout` was inferred from the shape against the format's convention (an npz holding
    /// a PyTorch-layout weight): worth telling the user.
    pub layout_inferred: bool,
    /// What its name says it is (`timm / DINO / … patch embedding`), if it is a known first-layer name.
    pub recognized: Option<&'static str>,
    /// Only from [`Checkpoint::tensors_read`], for a tensor whose header has not been read: the bytes the file
    /// stores for it (an `.npz` entry's size in the zip directory). `info` and `problem` are then `None`.
    pub unread_bytes: Option<u64>,
}

/// A grid together with what it shows.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub grid: Grid,
    pub tensor: TensorInfo,
    /// (kh, kw, c) of one filter.
    pub filter_shape: [usize; 3],
    /// How the tensor's axes were read.
    pub layout: KernelLayout,
    /// The file index of each filter drawn, in drawing order (the view may sort them).
    pub shown: Vec<usize>,
    /// The raw numbers of each filter drawn, in drawing order (the page's inspector shows them).
    pub stats: Vec<FilterStats>,
    /// For a difference of two checkpoints: each drawn filter's cosine similarity, in drawing order.
    pub similarity: Option<Vec<f64>>,
    /// Where the time went (all 0 without a clock: see [`crate::timing`]).
    pub steps: Steps,
}

pub struct Checkpoint {
    container: Box<dyn Container>,
    /// One per file the checkpoint is made of (a sharded checkpoint has several).
    stats: Vec<Rc<ReadStats>>,
    file_size: u64,
    /// The last tensor read, by index: changing a view's options redraws the same tensor, and over a slow
    /// source (a URL) reading it again would cost more than drawing it.
    last_read: RefCell<Option<(usize, Tensor)>>,
    /// The last first filters read alone (tensor index, and its first slices: see `leading_filters`).
    last_leading: RefCell<Option<(usize, Tensor)>>,
    /// The last principal components fitted (tensor index, layout): fewer components are a prefix of them.
    pub(crate) last_pca: RefCell<Option<(usize, KernelLayout, Pca)>>,
    /// The default tensor once picked: a draw and the caller's summary (its name, its reason) each ask for it, and
    /// the pick goes through every name of the checkpoint.
    default: OnceCell<Option<Pick>>,
}

/// One checkpoint found among files opened together, or why it could not be opened.
pub struct Opened {
    /// The file's name, or the shards' common name.
    pub label: String,
    /// The files it is made of.
    pub files: Vec<String>,
    pub checkpoint: Result<Checkpoint>,
}

impl Checkpoint {
    /// A checkpoint over an opened container, read through `stats`' meters, nothing cached yet.
    fn with(container: Box<dyn Container>, stats: Vec<Rc<ReadStats>>, file_size: u64) -> Checkpoint {
        Checkpoint {
            container,
            stats,
            file_size,
            last_read: RefCell::new(None),
            last_leading: RefCell::new(None),
            last_pca: RefCell::new(None),
            default: OnceCell::new(),
        }
    }

    /// Opens a checkpoint; reads only the format's index (for `.npz`, the zip central directory).
    pub fn open(source: impl ByteSource + 'static) -> Result<Checkpoint> {
        let metered = Metered::new(source);
        let stats = vec![metered.stats()];
        let file_size = metered.len();
        let container = container::open(Rc::new(metered))?;
        Ok(Checkpoint::with(container, stats, file_size))
    }

    /// Tensors already in memory (the Python package's arrays, state dicts and models): each is read, as a
    /// file's tensor is, only when drawn, and counted as bytes read.
    pub fn in_memory(
        tensors: Vec<container::memory::MemoryTensor>,
        convention: container::memory::Convention,
    ) -> Result<Checkpoint> {
        let mut stats = Vec::with_capacity(tensors.len());
        let mut file_size = 0;
        let metered = tensors
            .into_iter()
            .map(|t| {
                let metered = Metered::new(t.data);
                stats.push(metered.stats());
                file_size += metered.len();
                container::memory::MemoryTensor { data: Rc::new(metered), ..t }
            })
            .collect();
        let container = Box::new(container::memory::Memory::new(metered, convention)?);
        Ok(Checkpoint::with(container, stats, file_size))
    }

    /// Opens files given together (a multi-file drop, a folder): shards of one checkpoint become one,
    /// an ONNX model reads its external data from the file beside it, every other file is its own.
    pub fn open_files(files: Vec<(String, Rc<dyn ByteSource>)>) -> Vec<Opened> {
        let mut stats = Vec::with_capacity(files.len());
        let named = files
            .into_iter()
            .map(|(name, source)| {
                let metered = Metered::new(source);
                stats.push((name.clone(), metered.stats(), metered.len()));
                NamedSource { name, source: Rc::new(metered) }
            })
            .collect();
        fileset::open_files(named)
            .into_iter()
            .map(|group| {
                let members: Vec<_> = stats.iter().filter(|(name, _, _)| group.files.contains(name)).collect();
                let checkpoint = group.container.map(|container| {
                    let stats = members.iter().map(|(_, s, _)| Rc::clone(s)).collect();
                    Checkpoint::with(container, stats, members.iter().map(|(_, _, len)| len).sum())
                });
                Opened { label: group.label, files: group.files, checkpoint }
            })
            .collect()
    }

    pub fn format(&self) -> &'static str {
        self.container.format()
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Bytes transferred from the source so far (headers, index and tensors), repeats included.
    pub fn bytes_read(&self) -> u64 {
        self.stats.iter().map(|s| s.bytes()).sum()
    }

    /// Distinct bytes of the file(s) read so far: how much of them was ever looked at.
    pub fn distinct_bytes_read(&self) -> u64 {
        self.stats.iter().map(|s| s.distinct_bytes()).sum()
    }

    /// Number of separate reads issued to the source(s) so far.
    pub fn reads(&self) -> u64 {
        self.stats.iter().map(|s| s.reads()).sum()
    }

    /// Things to know about the file as a whole (metadata, refused pickle globals, …), one sentence each.
    pub fn notes(&self) -> Vec<String> {
        self.container.notes()
    }

    /// Whether the format states how kernels are laid out; where it does not (npz, npy), each tensor's
    /// layout is inferred from its shape.
    pub fn layout_is_stated(&self) -> bool {
        self.container.layout_is_stated()
    }

    /// How a tensor's axes are read: as the format states, or, where it does not (npz, npy), as the
    /// shape suggests, the format's convention winning ties.
    pub fn layout_of(&self, info: &TensorInfo) -> KernelLayout {
        let convention = self.container.layout();
        if self.container.layout_is_stated() {
            convention
        } else {
            infer_layout(&info.shape, convention)
        }
    }

    /// Every tensor, in file order. Reads each entry's small header once, nearby ones together.
    pub fn tensors(&self) -> Vec<TensorEntry> {
        let names = self.container.names();
        self.container.infos().into_iter().zip(names).map(|(info, name)| self.entry(name, info)).collect()
    }

    /// Every tensor, in file order, without reading the headers an `.npz` keeps beside each entry's data: an entry
    /// not drawn yet has the bytes the zip directory gives for it (`unread_bytes`) instead of its dtype and shape.
    /// Other formats list as `tensors` does. For an `.npz` by URL from a server that answers one range per
    /// request (S3, GCS), `tensors` costs a request per entry; this costs none.
    pub fn tensors_read(&self) -> Vec<TensorEntry> {
        let names = self.container.names();
        (0..names.len())
            .map(|index| match self.container.info_if_read(index) {
                Some(info) => self.entry(&names[index], info),
                None => TensorEntry {
                    name: names[index].clone(),
                    info: None,
                    problem: None,
                    layout: None,
                    layout_inferred: false,
                    recognized: recognize(&names[index]),
                    unread_bytes: Some(self.container.stored_bytes(index).unwrap_or(0)),
                },
            })
            .collect()
    }

    /// A listed tensor from its header, or from the sentence saying why the header could not be read.
    fn entry(&self, name: &str, info: Result<TensorInfo>) -> TensorEntry {
        let name = name.to_string();
        let recognized = recognize(&name);
        match info {
            Ok(info) => {
                let layout = self.layout_of(&info);
                let four_d = info.shape.len() == 4;
                TensorEntry {
                    problem: not_drawable_reason(&info, layout),
                    layout: four_d.then_some(layout),
                    layout_inferred: four_d && layout != self.container.layout(),
                    recognized,
                    name,
                    info: Some(info),
                    unread_bytes: None,
                }
            }
            Err(e) => TensorEntry {
                name,
                info: None,
                problem: Some(e.to_string()),
                layout: None,
                layout_inferred: false,
                recognized,
                unread_bytes: None,
            },
        }
    }

    /// The byte ranges `tensors` will read together now (an `.npz`'s header groups; empty for most formats).
    pub fn listing_ranges(&self) -> Vec<(u64, u64)> {
        self.container.listing_ranges()
    }

    /// The tensor patchlens draws by default: the patch embedding, if it can find one.
    pub fn default_tensor(&self) -> Option<String> {
        self.default_pick().map(|pick| self.container.names()[pick.index].clone())
    }

    /// Why the default tensor was chosen, in a phrase.
    pub fn default_reason(&self) -> Option<String> {
        self.default_pick().map(|pick| pick.reason)
    }

    /// Every tensor's name in file order, and one's header: for analyses that find their own tensor.
    pub(crate) fn container_names(&self) -> &[String] {
        self.container.names()
    }

    pub(crate) fn container_info(&self, index: usize) -> Option<TensorInfo> {
        self.container.info(index).ok()
    }

    fn default_pick(&self) -> Option<Pick> {
        let container = &self.container;
        let pick = || {
            pick_patch_embedding_preferring(
                container.names(),
                |i| container.info(i).ok(),
                |info| self.layout_of(info),
                container.preferred_default(),
            )
        };
        self.default.get_or_init(pick).clone()
    }

    /// Tensor `index`, from the last read when it was this one.
    fn read(&self, index: usize) -> Result<Tensor> {
        if let Some((cached, tensor)) = self.last_read.borrow().as_ref() {
            if *cached == index {
                return Ok(tensor.clone());
            }
        }
        let tensor = self.container.read(index)?;
        *self.last_read.borrow_mut() = Some((index, tensor.clone()));
        Ok(tensor)
    }

    /// The index of the tensor named `name`.
    pub(crate) fn index_of(&self, name: &str) -> Result<usize> {
        self.container
            .names()
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::NoSuchTensor(format!("There is no tensor named {name} in this file.")))
    }

    /// A tensor's filters as (kh, kw, c, n); `None` picks the default tensor.
    pub fn filters(&self, tensor: Option<&str>) -> Result<(TensorInfo, Filters)> {
        self.filters_as(tensor, None).map(|(info, filters, _)| (info, filters))
    }

    /// As [`Checkpoint::filters`], reading the axes as `layout` instead of [`Checkpoint::layout_of`]'s
    /// choice when one is given; returns the layout used.
    pub fn filters_as(
        &self,
        tensor: Option<&str>,
        layout: Option<KernelLayout>,
    ) -> Result<(TensorInfo, Filters, KernelLayout)> {
        // A tensor named like the embedding is almost always the pick: reading it first brings its
        // header and data in one read, and the pick below then finds its header already known.
        let prefetched = match tensor {
            None => likely_patch_embedding(self.container.names())
                .and_then(|index| self.read(index).ok().map(|t| (index, t))),
            Some(_) => None,
        };
        let index = match tensor {
            Some(name) => self.index_of(name)?,
            None => self.default_pick().map(|pick| pick.index).ok_or_else(|| {
                Error::NotDrawable(
                    "No patch embedding was found: no tensor has a known first-layer name and none is a 4-D float kernel with 1 or 3 input channels.".into(),
                )
            })?,
        };
        let info = self.container.info(index)?;
        let layout = layout.unwrap_or_else(|| self.layout_of(&info));
        if let Some(reason) = not_drawable_reason(&info, layout) {
            return Err(Error::NotDrawable(format!(
                "Tensor {} cannot be drawn as {}: {reason}.",
                info.name,
                layout.name().to_uppercase()
            )));
        }
        let tensor = match prefetched {
            Some((read, tensor)) if read == index => tensor,
            _ => self.read(index)?,
        };
        Ok((info, Filters::from_tensor(tensor, layout)?, layout))
    }

    /// Only the filters a view draws, when it draws the first `count` each scaled on its own (the notebook's
    /// view) from a kernel stored filter by filter ((n, c, kh, kw) or (n, kh, kw, c)) that is not read yet, and
    /// the format can read its first slices alone (`Container::read_leading`): the default grid of a ViT-B/16
    /// then reads 128 of its 768 filters. Returns them with the kernel's filter count; `None` otherwise.
    fn leading_filters(
        &self,
        tensor: Option<&str>,
        layout: Option<KernelLayout>,
        view: &FilterView,
        count: usize,
    ) -> Result<Option<(TensorInfo, Filters, KernelLayout, usize)>> {
        let first_axis_filters = |layout| matches!(layout, KernelLayout::Oihw | KernelLayout::Ohwi);
        // A format that stores (kh, kw, c, n) would need its whole kernel; its pick may also cost reads.
        if view.normalize != Normalize::Filter
            || view.order != Order::File
            || !first_axis_filters(self.container.layout())
        {
            return Ok(None);
        }
        let index = match tensor {
            Some(name) => self.index_of(name)?,
            None => match self.default_pick() {
                Some(pick) => pick.index,
                None => return Ok(None),
            },
        };
        if self.last_read.borrow().as_ref().is_some_and(|(cached, _)| *cached == index) {
            return Ok(None); // the whole kernel is in memory already
        }
        let info = self.container.info(index)?;
        let layout = layout.unwrap_or_else(|| self.layout_of(&info));
        if !first_axis_filters(layout) || info.shape.len() != 4 || not_drawable_reason(&info, layout).is_some() {
            return Ok(None);
        }
        // A redraw with other grid options draws from the filters already read, as a whole kernel's would.
        let kept = self.last_leading.borrow().as_ref().and_then(|(cached, part)| {
            (*cached == index && part.info.shape.first().is_some_and(|&n| n >= count)).then(|| part.clone())
        });
        let part = match kept {
            Some(part) => part,
            None => match self.container.read_leading(index, count)? {
                Some(part) => {
                    *self.last_leading.borrow_mut() = Some((index, part.clone()));
                    part
                }
                None => return Ok(None),
            },
        };
        let total = info.shape[0];
        Ok(Some((info, Filters::from_tensor(part, layout)?, layout, total)))
    }

    /// A float tensor's values by name, widened to f64 in C order (row-major), as the analysis views
    /// take them; the same read as drawing it.
    pub fn tensor_values(&self, name: &str) -> Result<(TensorInfo, Vec<f64>)> {
        let index = self.index_of(name)?;
        let info = self.container.info(index)?;
        let count = info.element_count()?;
        if count.checked_mul(8).is_none_or(|bytes| bytes > MAX_TENSOR_BYTES) {
            return Err(Error::TooLarge(format!(
                "Tensor {name} is {count} values, more than the {} MiB patchlens reads at once as float64.",
                MAX_TENSOR_BYTES >> 20
            )));
        }
        let tensor = self.read(index)?;
        let values = c_order_f64(tensor.values, &info.shape, tensor.order)
            .ok_or_else(|| Error::Malformed(format!("Tensor {name} has the wrong number of values for its shape.")))?;
        Ok((info, values))
    }

    /// Renders a tensor's first filters as a grid; `None` picks the default tensor.
    pub fn render(&self, tensor: Option<&str>, options: &GridOptions) -> Result<Rendered> {
        self.render_as(tensor, None, options)
    }

    /// As [`Checkpoint::render`], with the axes read as `layout` when one is given.
    pub fn render_as(
        &self,
        tensor: Option<&str>,
        layout: Option<KernelLayout>,
        options: &GridOptions,
    ) -> Result<Rendered> {
        self.render_view(tensor, layout, &FilterView::default(), options)
    }

    /// As [`Checkpoint::render_as`], through the filters view `view` (normalisation, channels, order).
    pub fn render_view(
        &self,
        tensor: Option<&str>,
        layout: Option<KernelLayout>,
        view: &FilterView,
        options: &GridOptions,
    ) -> Result<Rendered> {
        let started = timing::now();
        let (info, filters, layout, total) = match self.leading_filters(tensor, layout, view, options.count)? {
            Some(leading) => leading,
            None => {
                let (info, filters, layout) = self.filters_as(tensor, layout)?;
                let total = filters.dims()[3];
                (info, filters, layout, total)
            }
        };
        let [kh, kw, c, _] = filters.dims();
        let read = timing::now();
        let (tiles, mut shown) = view.tiles(&filters);
        let scaled = timing::now();
        let mut grid = grid::render_tiles(&tiles, &GridOptions { split_channels: view.channels, ..options.clone() })?;
        grid.filters_total = total;
        let laid_out = timing::now();
        shown.truncate(grid.filters_shown);
        let stats = filters.stats(&shown);
        let steps = Steps {
            read: read - started,
            scale: scaled - read,
            grid: laid_out - scaled,
            stats: timing::now() - laid_out,
        };
        Ok(Rendered { grid, tensor: info, filter_shape: [kh, kw, c], layout, shown, stats, similarity: None, steps })
    }
}

/// Values widened to f64 and put in C order; `None` if their count does not fit the shape.
fn c_order_f64(values: Values, shape: &[usize], order: MemoryOrder) -> Option<Vec<f64>> {
    let wide = match values {
        Values::F32(v) => v.into_iter().map(f64::from).collect(),
        Values::F64(v) => v,
    };
    match order {
        MemoryOrder::C => (Some(wide.len()) == element_count("", shape).ok()).then_some(wide),
        // A Fortran-order array read in its logical (row-major) order.
        MemoryOrder::Fortran => {
            ArrayD::from_shape_vec(IxDyn(shape).f(), wide).ok().map(|a| a.iter().copied().collect())
        }
    }
}
