//! Checkpoints named by arguments on this machine, as the CLI and the Python package take them: paths (a
//! folder stands for its files and its `variables/`, a `*.index.json` for its shards, a TensorFlow `.index` for
//! its data files), URLs and hub model ids. Not in the wasm build: the page gets files, not paths.

use crate::checkpoint::{Checkpoint, Opened};
use crate::container::NamedSource;
use crate::error::{Error, Result};
use crate::fileset::files_named_by_index;
use crate::remote::hub;
use crate::source::{ByteSource, FileSource};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What the arguments opened to.
pub struct Named {
    pub opened: Vec<Opened>,
    /// Files found in a folder that are no checkpoint (a README): left out, to be said.
    pub skipped: Vec<String>,
}

/// A file found in a folder rather than named: not being a checkpoint is no error for it.
struct Found {
    path: PathBuf,
    in_folder: bool,
}

/// An http(s) address, or an argument that names no file here but reads as a hub model id.
pub fn is_remote(arg: &str, hub: &str) -> bool {
    hub::is_http_url(arg) || (!Path::new(arg).exists() && hub::parse_target(arg, hub).is_some())
}

/// Opens the files, URLs and model ids: the files together (shards, companions), in the place of the first of
/// them; each URL or model id on its own, through `open_remote`.
pub fn open_named(
    args: &[String],
    hub: &str,
    mut open_remote: impl FnMut(&str) -> Result<Vec<Opened>>,
) -> Result<Named> {
    let (remote, local): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| is_remote(a, hub));
    if remote.is_empty() {
        return open_local(args);
    }
    let mut opened = Vec::new();
    let mut local_at = None;
    for arg in args {
        if remote.contains(&arg) {
            opened.extend(open_remote(arg)?);
        } else if local_at.is_none() {
            local_at = Some(opened.len());
        }
    }
    let mut skipped = Vec::new();
    if let Some(at) = local_at {
        let files: Vec<String> = local.into_iter().cloned().collect();
        let here = open_local(&files)?;
        opened.splice(at..at, here.opened);
        skipped = here.skipped;
    }
    Ok(Named { opened, skipped })
}

/// Opens a URL or model id over HTTP, saying so when a model id was meant for a file that is not here.
#[cfg(feature = "http")]
pub fn open_remote(
    arg: &str,
    hub: &str,
    client: &crate::remote::http::HttpClient,
) -> Result<crate::remote::OpenedTarget> {
    crate::remote::open_target(arg, hub, client).map_err(|e| as_meant(e, arg, hub))
}

/// The files of a URL or model id, found but not opened (the Python widget serves their bytes), worded as
/// [`open_remote`] words its failures.
#[cfg(feature = "http")]
pub fn remote_files(
    arg: &str,
    hub: &str,
    client: &crate::remote::http::HttpClient,
) -> Result<crate::remote::TargetFiles> {
    crate::remote::target_files(arg, hub, client).map_err(|e| as_meant(e, arg, hub))
}

/// A failure to open `arg` as a hub model id, said so when it may have been meant as a file that is not here.
#[cfg(feature = "http")]
fn as_meant(e: Error, arg: &str, hub: &str) -> Error {
    match hub::parse_target(arg, hub) {
        Some(hub::Target::Model { .. }) if !arg.contains("://") => {
            let text = format!("There is no file {arg} here; as a hub model id: {e}");
            e.reworded(text)
        }
        _ => e,
    }
}

/// Why a URL or model id cannot be opened by a build without HTTP, in a sentence that says how to get one.
pub fn without_http(arg: &str, install: &str) -> Error {
    Error::Unsupported(if arg.contains("://") {
        format!("{arg} is a URL, and this patchlens was built without the `http` feature that reads URLs ({install}).")
    } else {
        format!("There is no file {arg}, and this patchlens was built without the `http` feature that opens hub model ids ({install}).")
    })
}

/// Opens the files; a file from a folder that is no checkpoint at all is left out (and listed in `skipped`).
pub fn open_local(args: &[String]) -> Result<Named> {
    let found = expand(args)?;
    let files = found.iter().map(|f| named(&f.path)).collect::<Result<Vec<_>>>()?;
    let from_folder: Vec<String> =
        found.iter().zip(&files).filter(|(f, _)| f.in_folder).map(|(_, n)| n.name.clone()).collect();
    let mut opened = Checkpoint::open_files(files.into_iter().map(|f| (f.name, f.source)).collect());
    let mut skipped = Vec::new();
    opened.retain(|o| {
        let not_a_checkpoint = matches!(o.checkpoint, Err(crate::Error::UnknownFormat(_)));
        let skip = not_a_checkpoint && from_folder.contains(&o.label);
        if skip {
            skipped.push(o.label.clone());
        }
        !skip
    });
    if opened.is_empty() {
        return Err(Error::UnknownFormat(
            "None of the files given is a checkpoint; name NumPy, PyTorch, safetensors, Keras, TensorFlow, TFLite, Flax, GGUF or ONNX files."
                .into(),
        ));
    }
    Ok(Named { opened, skipped })
}

/// The paths of the files behind the arguments, as [`open_local`] would open them (the Python widget reads them
/// itself): a folder's files and its `variables/`, an index's shards, a TF index's data files.
pub fn files_of(args: &[String]) -> Result<Vec<PathBuf>> {
    Ok(expand(args)?.into_iter().map(|f| f.path).collect())
}

/// The files behind the arguments: a folder's files, an index's shards (from the index's folder).
fn expand(args: &[String]) -> Result<Vec<Found>> {
    let mut paths: Vec<Found> = Vec::new();
    let mut add_found = |path: PathBuf, in_folder: bool| {
        if !paths.iter().any(|f| f.path == path) {
            paths.push(Found { path, in_folder });
        }
    };
    for arg in args {
        let path = PathBuf::from(arg);
        if path.is_dir() {
            let mut inside =
                files_in(&path).map_err(|e| Error::Read(format!("Could not read the folder {arg}: {e}.")))?;
            // A SavedModel keeps its weights one level down, in variables/.
            let variables = path.join("variables");
            if variables.is_dir() && !is_hidden(&variables) {
                inside.extend(
                    files_in(&variables)
                        .map_err(|e| Error::Read(format!("Could not read the folder {arg}/variables: {e}.")))?,
                );
            }
            inside.into_iter().for_each(|p| add_found(p, true));
        } else if arg.ends_with(".index.json") {
            let index = named(&path)?;
            let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let shards = files_named_by_index(&index).map_err(|e| {
                let text = format!("{arg}: {e}");
                e.reworded(text)
            })?;
            add_found(path, false);
            shards.into_iter().for_each(|shard| add_found(folder.join(shard), false));
        } else if let Some(prefix) = arg.strip_suffix(".index").filter(|_| path.is_file()) {
            // A TensorFlow checkpoint's index: its data files sit beside it as `<prefix>.data-…`.
            let folder = match path.parent() {
                Some(folder) if !folder.as_os_str().is_empty() => folder.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let stem = format!("{}.data-", Path::new(prefix).file_name().unwrap_or_default().to_string_lossy());
            let beside =
                files_in(&folder).map_err(|e| Error::Read(format!("Could not read the folder beside {arg}: {e}.")))?;
            add_found(path, false);
            beside
                .into_iter()
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&stem)))
                .for_each(|p| add_found(p, false));
        } else {
            add_found(path, false);
        }
    }
    Ok(paths)
}

/// A folder's files, not hidden, sorted.
fn files_in(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut inside: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !is_hidden(p))
        .collect();
    inside.sort();
    Ok(inside)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

fn named(path: &Path) -> Result<NamedSource> {
    let source = FileSource::open(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    Ok(NamedSource { name, source: Rc::new(source) as Rc<dyn ByteSource> })
}
