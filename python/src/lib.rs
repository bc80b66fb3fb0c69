//! `patchlens._native`: the Python package's one binding module, as thin as the page's (`src/web/`). It opens
//! checkpoints the way the CLI does (`patchlens::local`: paths, folders, indexes, URLs and hub ids), hands
//! arrays from the process to `Checkpoint::in_memory`, draws through `patchlens::draw::Request` with the CLI's
//! option names and sentences, and returns grids as bytes plus a dict of what they show. The API people use,
//! its docstrings and the conversions from NumPy, torch and JAX objects are Python (`python/patchlens/`).

use patchlens::analysis::positions::SimilarityMode;
use patchlens::container::memory::{Convention, MemoryTensor};
use patchlens::draw::{Drawn, Request, View};
use patchlens::grid::parse_color;
use patchlens::remote::RemoteStats;
use patchlens::source::ByteSource;
use patchlens::tensor::DType;
use patchlens::{Checkpoint, Error, KernelLayout, Normalize, Order};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::rc::Rc;

/// A patchlens error as the Python exception of its kind (`patchlens.errors`), its sentence unchanged.
fn raise(py: Python<'_>, error: &Error) -> PyErr {
    let kind = match error {
        Error::Read(_) => "ReadError",
        Error::Truncated(_) => "TruncatedError",
        Error::UnknownFormat(_) => "UnknownFormatError",
        Error::Malformed(_) => "MalformedError",
        Error::Unsupported(_) => "UnsupportedError",
        Error::TooLarge(_) => "TooLargeError",
        Error::NoSuchTensor(_) => "NoSuchTensorError",
        Error::NotDrawable(_) => "NotDrawableError",
        Error::InvalidOption(_) => "InvalidOptionError",
        Error::Network(_) => "NetworkError",
    };
    let class = py.import("patchlens.errors").and_then(|errors| errors.getattr(kind));
    match class.and_then(|class| class.call1((error.to_string(),))) {
        Ok(exception) => PyErr::from_value(exception),
        Err(failed) => failed,
    }
}

fn option_error(py: Python<'_>, sentence: String) -> PyErr {
    raise(py, &Error::InvalidOption(sentence))
}

/// A checkpoint, opened; `unsendable`: it reads through `Rc`s, and Python objects for in-memory arrays.
#[pyclass(unsendable, module = "patchlens._native")]
struct NativeCheckpoint {
    inner: Checkpoint,
    label: String,
    files: Vec<String>,
    /// Requests and bytes over HTTP, for a URL or hub id.
    network: Option<Rc<RemoteStats>>,
}

/// One checkpoint found among the arguments: opened, or the sentence of why not.
#[pyclass(unsendable, module = "patchlens._native")]
struct NativeOpened {
    #[pyo3(get)]
    label: String,
    #[pyo3(get)]
    files: Vec<String>,
    checkpoint: Option<Result<NativeCheckpoint, Error>>,
}

#[pymethods]
impl NativeOpened {
    /// The checkpoint, once; raises the error of its kind when it could not be opened.
    fn take(&mut self, py: Python<'_>) -> PyResult<NativeCheckpoint> {
        match self.checkpoint.take() {
            Some(Ok(checkpoint)) => Ok(checkpoint),
            Some(Err(error)) => Err(raise(py, &error)),
            None => Err(PyTypeError::new_err("This checkpoint was taken already.")),
        }
    }
}

/// Opens files, folders, URLs and hub model ids as the CLI does: files given together are grouped into
/// checkpoints (shards, a TF index and its data, an ONNX model and its external data).
#[pyfunction]
#[pyo3(signature = (targets, hub = None))]
fn open(py: Python<'_>, targets: Vec<String>, hub: Option<String>) -> PyResult<(Vec<NativeOpened>, Vec<String>)> {
    use patchlens::remote::http::HttpClient;
    let hub = hub.unwrap_or_else(|| patchlens::remote::hub::HUB.to_string());
    let mut networks: Vec<(Vec<String>, Rc<RemoteStats>)> = Vec::new();
    let named = patchlens::local::open_named(&targets, &hub, |arg| {
        let opened = patchlens::local::open_remote(arg, &hub, &HttpClient::new())?;
        networks.push((opened.opened.iter().map(|o| o.label.clone()).collect(), Rc::clone(&opened.stats)));
        Ok(opened.opened)
    })
    .map_err(|e| raise(py, &e))?;
    let opened = named
        .opened
        .into_iter()
        .map(|o| {
            let network = networks.iter().find(|(labels, _)| labels.contains(&o.label)).map(|(_, s)| Rc::clone(s));
            let (label, files) = (o.label, o.files);
            let checkpoint = o.checkpoint.map(|inner| NativeCheckpoint {
                inner,
                label: label.clone(),
                files: files.clone(),
                network,
            });
            NativeOpened { label, files, checkpoint: Some(checkpoint) }
        })
        .collect();
    Ok((opened, named.skipped))
}

/// One file of a URL or hub model, read by ranges over HTTP (for the widget, which serves its bytes).
#[pyclass(unsendable, module = "patchlens._native")]
struct NativeFile {
    #[pyo3(get)]
    name: String,
    source: Rc<dyn ByteSource>,
}

#[pymethods]
impl NativeFile {
    #[getter]
    fn size(&self) -> u64 {
        self.source.len()
    }

    /// Exactly `length` bytes from `offset`.
    fn read<'py>(&self, py: Python<'py>, offset: u64, length: usize) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = patchlens::source::read_vec(&*self.source, offset, length).map_err(|e| raise(py, &e))?;
        Ok(PyBytes::new(py, &bytes))
    }
}

/// The files behind paths, as `open` finds them: a folder's files, an index's shards, a TF index's data files.
#[pyfunction]
fn local_files(py: Python<'_>, paths: Vec<String>) -> PyResult<Vec<String>> {
    let found = patchlens::local::files_of(&paths).map_err(|e| raise(py, &e))?;
    Ok(found.into_iter().map(|p| p.to_string_lossy().into_owned()).collect())
}

/// Whether an argument names a URL or hub model id rather than a file here (as `open` decides).
#[pyfunction]
#[pyo3(signature = (arg, hub = None))]
fn is_remote(arg: &str, hub: Option<String>) -> bool {
    patchlens::local::is_remote(arg, hub.as_deref().unwrap_or(patchlens::remote::hub::HUB))
}

/// The files behind a URL or hub model id, not opened: `(files, "owner/name" or None)`.
#[pyfunction]
#[pyo3(signature = (target, hub = None))]
fn remote_files(py: Python<'_>, target: &str, hub: Option<String>) -> PyResult<(Vec<NativeFile>, Option<String>)> {
    use patchlens::remote::http::HttpClient;
    let hub = hub.unwrap_or_else(|| patchlens::remote::hub::HUB.to_string());
    let found = patchlens::local::remote_files(target, &hub, &HttpClient::new()).map_err(|e| raise(py, &e))?;
    let files = found.files.into_iter().map(|(name, source)| NativeFile { name, source }).collect();
    Ok((files, found.model))
}

/// An array's bytes, read through the Python callable `read(offset, length) -> bytes` (so only the slices
/// drawn are ever copied out of the process's tensors).
struct PyRangeSource {
    read: Py<PyAny>,
    name: String,
    len: u64,
}

impl ByteSource for PyRangeSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> patchlens::Result<()> {
        patchlens::source::check_range(offset, buf.len(), self.len)?;
        Python::attach(|py| {
            let failed = |why: String| Error::Read(format!("Could not read array {}: {why}.", self.name));
            let returned = self.read.call1(py, (offset, buf.len())).map_err(|e| failed(e.to_string()))?;
            let bytes =
                returned.cast_bound::<PyBytes>(py).map_err(|_| failed("its reader returned no bytes".into()))?;
            let bytes = bytes.as_bytes();
            if bytes.len() != buf.len() {
                return Err(failed(format!("{} bytes came where {} were asked for", bytes.len(), buf.len())));
            }
            buf.copy_from_slice(bytes);
            Ok(())
        })
    }
}

/// An array handed over: `(name, dtype, shape, byte length, read(offset, length) -> bytes)`.
type ArrayEntry = (String, String, Vec<usize>, u64, Py<PyAny>);

/// A checkpoint of arrays handed over by the Python side: `(name, dtype, shape, byte length, read)` each, in
/// PyTorch's convention (`torch`) or NumPy's (`arrays`: each kernel's layout inferred from its shape).
#[pyfunction]
#[pyo3(signature = (tensors, convention, label))]
fn from_arrays(
    py: Python<'_>,
    tensors: Vec<ArrayEntry>,
    convention: &str,
    label: String,
) -> PyResult<NativeCheckpoint> {
    let convention = convention_of(convention)?;
    let tensors = tensors
        .into_iter()
        .map(|(name, dtype, shape, len, read)| MemoryTensor {
            data: Rc::new(PyRangeSource { read, name: name.clone(), len }),
            dtype: DType::from_name(&dtype),
            shape,
            name,
        })
        .collect();
    let inner = Checkpoint::in_memory(tensors, convention).map_err(|e| raise(py, &e))?;
    Ok(NativeCheckpoint { inner, files: Vec::new(), label, network: None })
}

fn convention_of(convention: &str) -> PyResult<Convention> {
    match convention {
        "torch" => Ok(Convention::Torch),
        "arrays" => Ok(Convention::Arrays),
        other => Err(PyTypeError::new_err(format!("Unknown convention '{other}'."))),
    }
}

/// In-memory tensors `(name, dtype, shape, byte length)` laid out as a safetensors file (for the widget, which
/// serves it by ranges): `(header bytes, each tensor's offset or None where it is left out, the file's length)`.
#[pyfunction]
fn safetensors_plan<'py>(
    py: Python<'py>,
    tensors: Vec<(String, String, Vec<usize>, u64)>,
    convention: &str,
) -> PyResult<(Bound<'py, PyBytes>, Vec<Option<u64>>, u64)> {
    let plan = patchlens::container::memory::safetensors_plan(&tensors, convention_of(convention)?);
    Ok((PyBytes::new(py, &plan.header), plan.offsets, plan.len))
}

/// A checkpoint file's bytes, already in memory (a download, an archive member).
#[pyfunction]
fn open_bytes(py: Python<'_>, data: Vec<u8>, label: String) -> PyResult<NativeCheckpoint> {
    let inner = Checkpoint::open(patchlens::SliceSource(data)).map_err(|e| raise(py, &e))?;
    Ok(NativeCheckpoint { inner, files: vec![label.clone()], label, network: None })
}

/// A whole number given to an option, or the CLI's sentence for one that is not.
fn whole(py: Python<'_>, name: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(None) };
    let text = || value.str().map(|r| r.to_string()).unwrap_or_default();
    let is_bool = value.is_instance_of::<pyo3::types::PyBool>();
    match value.extract::<i64>() {
        Ok(n) if !is_bool && n >= 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        _ => Err(option_error(py, format!("{name} takes a whole number, not '{}'.", text()))),
    }
}

/// A text option, or the CLI's sentence for one that is not among `choices`.
fn choice<T>(
    py: Python<'_>,
    name: &str,
    value: Option<&str>,
    choices: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> PyResult<Option<T>> {
    value.map(|v| parse(v).ok_or_else(|| option_error(py, format!("{name} is {choices}, not '{v}'.")))).transpose()
}

#[pymethods]
impl NativeCheckpoint {
    #[getter]
    fn label(&self) -> &str {
        &self.label
    }

    #[getter]
    fn files(&self) -> Vec<String> {
        self.files.clone()
    }

    #[getter]
    fn format(&self) -> &str {
        self.inner.format()
    }

    #[getter]
    fn notes(&self) -> Vec<String> {
        self.inner.notes()
    }

    #[getter]
    fn default(&self) -> Option<String> {
        self.inner.default_tensor()
    }

    #[getter]
    fn default_reason(&self) -> Option<String> {
        self.inner.default_reason()
    }

    #[getter]
    fn default_position_embedding(&self) -> Option<String> {
        self.inner.default_position_embedding().map(|(name, _)| name)
    }

    #[getter]
    fn file_size(&self) -> u64 {
        self.inner.file_size()
    }

    /// Distinct bytes of the file(s) read so far.
    #[getter]
    fn bytes_read(&self) -> u64 {
        self.inner.distinct_bytes_read()
    }

    /// Bytes transferred from the source(s), repeats included.
    #[getter]
    fn bytes_transferred(&self) -> u64 {
        self.inner.bytes_read()
    }

    /// HTTP requests made for a URL or hub id, `None` for a local file.
    #[getter]
    fn requests(&self) -> Option<u64> {
        self.network.as_ref().map(|s| s.requests())
    }

    /// Every tensor: `(name, dtype, shape, reason, layout, layout_inferred, recognized)`, `reason` `None` when it
    /// can be drawn, `dtype` and `shape` `None` when its header could not be read.
    #[allow(clippy::type_complexity)]
    fn tensors(
        &self,
    ) -> Vec<(
        String,
        Option<String>,
        Option<Vec<usize>>,
        Option<String>,
        Option<&'static str>,
        bool,
        Option<&'static str>,
    )> {
        self.inner
            .tensors()
            .into_iter()
            .map(|t| {
                let dtype = t.info.as_ref().map(|i| i.dtype.name().to_string());
                let shape = t.info.map(|i| i.shape);
                (t.name, dtype, shape, t.problem, t.layout.map(KernelLayout::name), t.layout_inferred, t.recognized)
            })
            .collect()
    }

    /// The listing `patchlens list` prints (`all`: every tensor), or its JSON document's entry.
    #[pyo3(signature = (all = false, json = false))]
    fn listing(&self, all: bool, json: bool) -> String {
        let listed = patchlens::listing::CheckpointListing::new(&self.label, &self.files, &self.inner);
        if json {
            patchlens::listing::to_pretty_json(&listed)
        } else {
            listed.text(all)
        }
    }

    /// Draws a view with the CLI's options.
    #[pyo3(signature = (
        view = "filters", tensor = None, layout = None, count = None, columns = None, zoom = None, gap = None,
        gap_color = None, normalize = None, channels = false, order = None, components = None, mode = None,
        extra_tokens = None, position_grid = None, compare = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn render<'py>(
        &self,
        py: Python<'py>,
        view: &str,
        tensor: Option<String>,
        layout: Option<&str>,
        count: Option<&Bound<'py, PyAny>>,
        columns: Option<&Bound<'py, PyAny>>,
        zoom: Option<&Bound<'py, PyAny>>,
        gap: Option<&Bound<'py, PyAny>>,
        gap_color: Option<&str>,
        normalize: Option<&str>,
        channels: bool,
        order: Option<&str>,
        components: Option<&Bound<'py, PyAny>>,
        mode: Option<&str>,
        extra_tokens: Option<&Bound<'py, PyAny>>,
        position_grid: Option<(usize, usize)>,
        compare: Option<PyRef<'py, NativeCheckpoint>>,
    ) -> PyResult<NativeGrid> {
        let mut request = Request {
            view: choice(py, "view", Some(view), View::NAMES, View::parse)?.unwrap_or_default(),
            tensor,
            layout: choice(py, "layout", layout, "hwio, oihw or ohwi", KernelLayout::parse)?,
            ..Request::default()
        };
        let numbers = [
            ("count", count, &mut request.grid.count),
            ("columns", columns, &mut request.grid.columns),
            ("zoom", zoom, &mut request.grid.zoom),
            ("gap", gap, &mut request.grid.gap),
        ];
        for (name, value, slot) in numbers {
            if let Some(n) = whole(py, name, value)? {
                *slot = n;
                request.given.push(name);
            }
        }
        if let Some(color) = gap_color {
            request.grid.gap_color = parse_color(color).map_err(|e| raise(py, &e))?;
            request.given.push("gap-color");
        }
        let normalize = choice(py, "normalize", normalize, "filter, global or symmetric", Normalize::parse)?;
        request.filters.normalize = normalize.unwrap_or_default();
        request.filters.channels = channels;
        request.filters.order = choice(py, "order", order, "file or norm", Order::parse)?.unwrap_or_default();
        if let Some(k) = whole(py, "components", components)? {
            request.components = k;
        }
        if let Some(mode) = choice(py, "mode", mode, "cosine or dot", SimilarityMode::parse)? {
            request.positions.mode = mode;
        }
        request.positions.extra_tokens = whole(py, "extra_tokens", extra_tokens)?;
        request.positions.grid = position_grid;
        let other = compare.as_ref().map(|c| &c.inner);
        if request.view != View::Difference && other.is_some() {
            let why = "compare draws a difference: give view='difference' with it (or leave view out).";
            return Err(option_error(py, why.into()));
        }
        let drawn = request.draw(&self.inner, other).map_err(|e| raise(py, &e))?;
        let info = describe(py, &drawn, &request)?.unbind();
        Ok(NativeGrid { grid: drawn.into_grid(), info })
    }
}

/// What a drawn grid shows, as a dict the Python `Grid` reads its attributes from.
fn describe<'py>(py: Python<'py>, drawn: &Drawn, request: &Request) -> PyResult<Bound<'py, PyDict>> {
    let grid = drawn.grid();
    let d = PyDict::new(py);
    d.set_item("width", grid.width)?;
    d.set_item("height", grid.height)?;
    d.set_item("filters_shown", grid.filters_shown)?;
    d.set_item("filters_total", grid.filters_total)?;
    d.set_item("columns", grid.columns)?;
    d.set_item("rows", grid.rows)?;
    d.set_item("zoom", grid.zoom)?;
    d.set_item("gap", grid.gap)?;
    d.set_item("summary", drawn.summary())?;
    let adjustments = PyList::empty(py);
    for a in &grid.adjustments {
        adjustments.append((a.option, a.used, &a.note, request.given.contains(&a.option)))?;
    }
    d.set_item("adjustments", adjustments)?;
    let tensor = match drawn {
        Drawn::Filters(r) => {
            d.set_item("view", if r.similarity.is_some() { "difference" } else { "filters" })?;
            d.set_item("layout", r.layout.name())?;
            d.set_item("filter_shape", r.filter_shape.to_vec())?;
            d.set_item("normalize", request.filters.normalize.name())?;
            d.set_item("channels", request.filters.channels)?;
            d.set_item("order", request.filters.order.name())?;
            let tiles: Vec<(usize, f64, f64, f64, f64)> =
                r.shown.iter().zip(&r.stats).map(|(&i, s)| (i, s.min, s.max, s.mean, s.norm)).collect();
            d.set_item("tiles", tiles)?;
            d.set_item("similarity", r.similarity.clone())?;
            &r.tensor
        }
        Drawn::Pca(r) => {
            d.set_item("view", "pca")?;
            d.set_item("layout", r.layout.name())?;
            d.set_item("filter_shape", r.filter_shape.to_vec())?;
            d.set_item("components", r.components)?;
            d.set_item("explained_variance_ratio", r.explained_variance_ratio.clone())?;
            &r.tensor
        }
        Drawn::Positions(r) => {
            d.set_item("view", "positions")?;
            d.set_item("mode", r.mode.name())?;
            d.set_item("reason", &r.reason)?;
            d.set_item("extra_tokens", r.tokens.extra)?;
            d.set_item("position_grid", (r.tokens.rows, r.tokens.cols))?;
            d.set_item("tokens_reason", &r.tokens.reason)?;
            let bar = &r.colorbar;
            d.set_item("colorbar", (bar.colormap.name(), bar.min, bar.max, bar.ticks.clone()))?;
            d.set_item("values", r.image.values.clone())?;
            &r.tensor
        }
    };
    d.set_item("tensor", &tensor.name)?;
    d.set_item("dtype", tensor.dtype.name())?;
    d.set_item("shape", tensor.shape.clone())?;
    Ok(d)
}

/// A drawn grid: its RGBA pixels, and a dict of what it shows.
#[pyclass(module = "patchlens._native")]
struct NativeGrid {
    grid: patchlens::Grid,
    info: Py<PyDict>,
}

#[pymethods]
impl NativeGrid {
    /// width × height × 4 bytes, row-major, alpha 255.
    #[getter]
    fn rgba<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.grid.rgba)
    }

    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        self.info.bind(py).clone()
    }

    /// The grid as PNG bytes: the CLI's encoder, so the same file `patchlens render` writes.
    fn png<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.grid.png().map_err(|e| raise(py, &e))?;
        Ok(PyBytes::new(py, &bytes))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(from_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(open_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(safetensors_plan, m)?)?;
    m.add_function(wrap_pyfunction!(is_remote, m)?)?;
    m.add_function(wrap_pyfunction!(local_files, m)?)?;
    m.add_function(wrap_pyfunction!(remote_files, m)?)?;
    m.add_class::<NativeFile>()?;
    m.add_class::<NativeCheckpoint>()?;
    m.add_class::<NativeOpened>()?;
    m.add_class::<NativeGrid>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
