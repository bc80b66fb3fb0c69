//! Several files opened together (a multi-file drop, a folder, `patchlens list a b c`): which of them
//! are one checkpoint. A shard index (`*.index.json`) and the shards it names are one; files named
//! `…-00001-of-00003.safetensors` / `.bin` with the same stem are one; every other file is a checkpoint of
//! its own, opened with the rest beside it (an ONNX model finds its external-data file there). A TensorFlow
//! checkpoint `X.index` and its `X.data-0000k-of-0000n` are one; a SavedModel folder's files are one.

use crate::container::shards::{parse_index, Shards, MAX_INDEX_BYTES};
use crate::container::tf_bundle::{shard_name, TfBundle, SAVED_MODEL_FILES};
use crate::container::{self, Container, NamedSource};
use crate::error::{Error, Result};
use crate::sorting;
use crate::source::read_vec;

/// Checkpoints found among some files, each with the names of the files it is made of.
pub struct Group {
    /// What to call it: the file's name, or the index's / the shards' common stem.
    pub label: String,
    pub files: Vec<String>,
    pub container: Result<Box<dyn Container>>,
}

/// `model-00001-of-00003.safetensors` → (`model`, 3, `safetensors`).
fn shard_pattern(name: &str) -> Option<(&str, &str, &str)> {
    let (stem, ext) = name.rsplit_once('.')?;
    let (before, total) = stem.rsplit_once("-of-")?;
    let (prefix, number) = before.rsplit_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(number) && digits(total) && matches!(ext, "safetensors" | "bin")).then_some((prefix, total, ext))
}

fn is_index(name: &str) -> bool {
    name.ends_with(".index.json")
}

/// Groups `files` into checkpoints and opens each. Never fails as a whole: each group carries its own
/// result, so one broken file does not hide the others.
pub fn open_files(files: Vec<NamedSource>) -> Vec<Group> {
    let mut used = vec![false; files.len()];
    let mut groups = tf_checkpoints(&files, &mut used);
    // 1. Index files and the shards they name.
    for (i, index) in files.iter().enumerate().filter(|(_, f)| is_index(&f.name)) {
        used[i] = true;
        let weight_map = read_index(index);
        let label = index.name.trim_end_matches(".index.json").to_string();
        let (members, container) = match weight_map {
            Ok(map) => {
                let mut members: Vec<String> = Vec::new();
                for (_, file) in &map {
                    if !members.contains(file) {
                        members.push(file.clone());
                    }
                }
                sorting::sort(&mut members);
                for (j, f) in files.iter().enumerate() {
                    if members.contains(&f.name) {
                        used[j] = true;
                    }
                }
                let opened = Shards::with_index(&index.name, map, files.clone());
                (members, opened.map(|s| Box::new(s) as Box<dyn Container>))
            }
            Err(e) => (Vec::new(), Err(e)),
        };
        let mut names = vec![index.name.clone()];
        names.extend(members);
        groups.push(Group { label, files: names, container });
    }
    // 2. Shards without an index, grouped by stem and count.
    let mut by_stem: Vec<((String, String, String), Vec<usize>)> = Vec::new();
    for (i, f) in files.iter().enumerate().filter(|&(i, _)| !used[i]) {
        if let Some((stem, total, ext)) = shard_pattern(&f.name) {
            let key = (stem.to_string(), total.to_string(), ext.to_string());
            match by_stem.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => by_stem.push((key, vec![i])),
            }
        }
    }
    for ((stem, _, ext), members) in by_stem.into_iter().filter(|(_, m)| m.len() > 1) {
        members.iter().for_each(|&i| used[i] = true);
        let shards: Vec<NamedSource> = members.iter().map(|&i| files[i].clone()).collect();
        let names = shards.iter().map(|s| s.name.clone()).collect();
        let container = Shards::scan(shards).map(|s| Box::new(s) as Box<dyn Container>);
        groups.push(Group { label: format!("{stem}.{ext}"), files: names, container });
    }
    // 3. Every other file on its own, with all the files beside it as companions.
    let mut singles: Vec<Group> = Vec::new();
    for (i, f) in files.iter().enumerate().filter(|&(i, _)| !used[i]) {
        let companions: Vec<NamedSource> =
            files.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, c)| c.clone()).collect();
        let container = container::open_named(f.source.clone(), &f.name, &companions);
        singles.push(Group { label: f.name.clone(), files: vec![f.name.clone()], container });
    }
    // A file some other checkpoint reads (ONNX external data) is part of that one, not a checkpoint.
    let mut companions_used: Vec<String> = Vec::new();
    for group in &mut singles {
        if let Ok(container) = &group.container {
            let used = container.companions_used();
            companions_used.extend(used.iter().cloned());
            group.files.extend(used);
        }
    }
    singles.retain(|g| g.container.is_ok() || !companions_used.contains(&g.label));
    groups.extend(singles);
    groups
}

/// TensorFlow checkpoints: each `X.index` with its `X.data-…` files (and a SavedModel's other files when X
/// is `variables`); data files, `saved_model.pb` or `fingerprint.pb` without their index get a sentence.
fn tf_checkpoints(files: &[NamedSource], used: &mut [bool]) -> Vec<Group> {
    let mut groups = Vec::new();
    let saved_model_part = |name: &str| SAVED_MODEL_FILES.contains(&name);
    for (i, index) in files.iter().enumerate() {
        let Some(prefix) = index.name.strip_suffix(".index").filter(|p| !p.is_empty()) else { continue };
        used[i] = true;
        let saved_model = prefix == "variables";
        let mut members: Vec<usize> = files
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                shard_name(&f.name).is_some_and(|(p, _, _)| p == prefix)
                    || (saved_model && saved_model_part(&f.name))
                    || f.name == format!("{prefix}.meta")
            })
            .map(|(j, _)| j)
            .collect();
        sorting::sort_by(&mut members, |&a, &b| files[a].name.cmp(&files[b].name));
        members.iter().for_each(|&j| used[j] = true);
        let companions: Vec<NamedSource> = members.iter().map(|&j| files[j].clone()).collect();
        let container =
            TfBundle::open_named(index.source.clone(), prefix, &companions).map(|b| Box::new(b) as Box<dyn Container>);
        let label = if saved_model && companions.iter().any(|c| c.name == "saved_model.pb") {
            "saved_model".to_string()
        } else {
            prefix.to_string()
        };
        let mut names = vec![index.name.clone()];
        names.extend(companions.iter().map(|c| c.name.clone()));
        groups.push(Group { label, files: names, container });
    }
    // TensorFlow's state file `checkpoint` (text naming the latest checkpoint) is part of the one it names,
    // else of the first: it holds no tensors and is no checkpoint of its own.
    if let Some(i) = (0..files.len()).find(|&i| !used[i] && files[i].name == TF_STATE_FILE) {
        let latest = latest_checkpoint(&files[i]);
        let named = groups.iter().position(|g| Some(&g.label) == latest.as_ref());
        if let Some(group) = groups.get_mut(named.unwrap_or(0)) {
            used[i] = true;
            group.files.push(files[i].name.clone());
        }
    }
    let left: Vec<usize> = (0..files.len()).filter(|&i| !used[i]).collect();
    for i in left {
        let file = &files[i];
        let sentence = if let Some((prefix, _, _)) = shard_name(&file.name) {
            format!(
                "{} holds a TensorFlow checkpoint's values but not their names, which are in {prefix}.index: open {prefix}.index with it.",
                file.name
            )
        } else if saved_model_part(&file.name) {
            format!(
                "{} is part of a TensorFlow SavedModel and holds no weights; they are in its variables folder (variables/variables.index and variables/variables.data-…): open the whole SavedModel folder.",
                file.name
            )
        } else {
            continue;
        };
        used[i] = true;
        groups.push(Group {
            label: file.name.clone(),
            files: vec![file.name.clone()],
            container: Err(Error::Read(sentence)),
        });
    }
    groups
}

/// The name of the state file `tf.train.Checkpoint` and `Saver` write beside their checkpoints.
const TF_STATE_FILE: &str = "checkpoint";
/// A state file is a few lines per checkpoint kept; more than this is not one.
const MAX_TF_STATE_BYTES: u64 = 64 << 10;

/// The checkpoint prefix the state file names as the latest (`model_checkpoint_path: "ckpt-3"`), base name only.
fn latest_checkpoint(state: &NamedSource) -> Option<String> {
    let len = state.source.len();
    let text = (len <= MAX_TF_STATE_BYTES).then(|| read_vec(&*state.source, 0, len as usize).ok()).flatten()?;
    let text = String::from_utf8(text).ok()?;
    let line = text.lines().find_map(|l| l.trim().strip_prefix("model_checkpoint_path:"))?;
    let path = line.trim().trim_matches('"');
    Some(path.rsplit(['/', '\\']).next().unwrap_or(path).to_string())
}

/// The shard files an index names, for callers that must find them on disk (the CLI given an index).
pub fn files_named_by_index(index: &NamedSource) -> Result<Vec<String>> {
    let mut files: Vec<String> = read_index(index)?.into_iter().map(|(_, file)| file).collect();
    sorting::sort(&mut files);
    files.dedup();
    Ok(files)
}

fn read_index(index: &NamedSource) -> Result<Vec<(String, String)>> {
    let len = index.source.len();
    if len > MAX_INDEX_BYTES as u64 {
        return Err(Error::TooLarge(format!(
            "The shard index {} is {len} bytes, more than the {} MiB an index can be.",
            index.name,
            MAX_INDEX_BYTES >> 20
        )));
    }
    parse_index(&read_vec(&*index.source, 0, len as usize)?, &index.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tensorflow_state_file_joins_the_checkpoint_it_names() {
        use crate::source::SliceSource;
        use std::rc::Rc;
        let file =
            |name: &str, bytes: &[u8]| NamedSource { name: name.into(), source: Rc::new(SliceSource(bytes.to_vec())) };
        let state = b"model_checkpoint_path: \"/tmp/run/ckpt-2\"\nall_model_checkpoint_paths: \"ckpt-1\"\n";
        let files = [file("ckpt-1.index", b""), file("ckpt-2.index", b""), file("checkpoint", state)];
        let mut used = vec![false; files.len()];
        let groups = tf_checkpoints(&files, &mut used);
        assert!(used.iter().all(|&u| u));
        let labels: Vec<(&str, bool)> =
            groups.iter().map(|g| (g.label.as_str(), g.files.contains(&"checkpoint".to_string()))).collect();
        assert_eq!(labels, [("ckpt-1", false), ("ckpt-2", true)]);
        // Alone, it is left for the single files (and refused there as no checkpoint).
        let mut used = vec![false];
        assert!(tf_checkpoints(&files[2..], &mut used).is_empty() && !used[0]);
    }

    #[test]
    fn recognises_shard_names() {
        assert_eq!(shard_pattern("model-00001-of-00003.safetensors"), Some(("model", "00003", "safetensors")));
        assert_eq!(shard_pattern("pytorch_model-00002-of-00002.bin"), Some(("pytorch_model", "00002", "bin")));
        assert_eq!(shard_pattern("model.safetensors"), None);
        assert_eq!(shard_pattern("a-x-of-2.bin"), None);
        assert_eq!(shard_pattern("a-1-of-2.npz"), None);
    }
}
