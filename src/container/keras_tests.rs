use super::*;
use crate::container::open;
use crate::source::{Metered, SliceSource};
use crate::tensor::Values;
use std::io::Write;

const KERAS2: &[u8] = include_bytes!("../../tests/fixtures/committed/keras/keras2_tiny.h5");
const KERAS3: &[u8] = include_bytes!("../../tests/fixtures/committed/keras/keras3_tiny.keras");
const HF: &[u8] = include_bytes!("../../tests/fixtures/committed/keras/tf_model.h5");

fn opened(bytes: Vec<u8>) -> Result<Box<dyn Container>> {
    open(Rc::new(SliceSource(bytes)))
}

fn sentence(err: Error) -> String {
    let text = err.to_string();
    assert!(text.ends_with('.') && !text.contains('\n') && text.len() > 10, "not one sentence: {text}");
    text
}

/// The members of a zip, each stored or deflated, written by hand (local headers, central directory, end).
fn zip_of(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for &(name, data, deflate) in members {
        let body = if deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            data.to_vec()
        };
        let method: u16 = if deflate { 8 } else { 0 };
        let crc = crc32(data);
        let offset = out.len() as u32;
        let fields = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&method.to_le_bytes());
            h.extend_from_slice(&[0; 4]);
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(body.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            if central {
                // Comment length, disk, internal and external attributes.
                h.extend_from_slice(&[0; 10]);
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(fields(0x0403_4b50, false));
        out.extend_from_slice(&body);
        central.extend(fields(0x0201_4b50, true));
    }
    let (cd_offset, cd_len, n) = (out.len() as u32, central.len() as u32, members.len() as u16);
    out.extend(central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// The members of the committed .keras, by name.
fn members() -> Vec<(String, Vec<u8>)> {
    let source = SliceSource(KERAS3);
    let archive = ZipArchive::read(&source).unwrap();
    archive.entries.iter().map(|e| (e.name.clone(), e.read_prefix(&source, e.size as usize).unwrap().bytes)).collect()
}

fn rebuilt(change: impl Fn(&str, &[u8]) -> (Vec<u8>, bool)) -> Vec<u8> {
    let members: Vec<(String, Vec<u8>, bool)> = members()
        .into_iter()
        .map(|(name, data)| {
            let (data, deflate) = change(&name, &data);
            (name, data, deflate)
        })
        .collect();
    zip_of(&members.iter().map(|(n, d, f)| (n.as_str(), d.as_slice(), *f)).collect::<Vec<_>>())
}

#[test]
fn keras2_lists_in_model_order_with_notes() {
    let file = opened(KERAS2.to_vec()).unwrap();
    assert_eq!((file.format(), file.layout()), ("keras", KernelLayout::Hwio));
    let names = file.names();
    assert_eq!(&names[..2], ["stem/kernel:0", "stem/bias:0"]);
    assert!(names.iter().position(|n| n == "stem/kernel:0") < names.iter().position(|n| n == "a_conv/kernel:0"));
    assert_eq!(file.info(0).unwrap().shape, [3, 3, 3, 8]);
    let notes = file.notes();
    assert!(notes.iter().any(|n| n.contains("Keras 2.21.0") && n.contains("tensorflow")), "{notes:?}");
    assert!(notes.iter().any(|n| n == "The model is a Functional named tiny."), "{notes:?}");
}

#[test]
fn hf_tf_model_picks_the_vit_projection() {
    let file = opened(HF.to_vec()).unwrap();
    let names = file.names().to_vec();
    let pick = crate::pick::likely_patch_embedding(&names).unwrap();
    assert_eq!(names[pick], "tf_vi_t_model/vit/embeddings/patch_embeddings/projection/kernel:0");
    assert_eq!(file.info(pick).unwrap().shape, [16, 16, 3, 6]);
}

#[test]
fn keras_zip_reads_its_weights_by_range() {
    let source = Rc::new(Metered::new(SliceSource(KERAS3.to_vec())));
    let stats = source.stats();
    let file = open(source).unwrap();
    assert_eq!(file.format(), "keras3");
    assert_eq!(&file.names()[..2], ["stem/kernel", "stem/bias"]);
    let opening = stats.distinct_bytes();
    // A small file fits the first 64 KiB; what opening reads is that window and no more.
    assert!(opening <= KERAS3.len() as u64, "{opening}");
    let kernel = file.read(0).unwrap();
    assert!(matches!(kernel.values, Values::F32(ref v) if v.len() == 3 * 3 * 3 * 8));
    let notes = file.notes();
    assert!(notes.iter().any(|n| n.starts_with("Written by Keras 3.")), "{notes:?}");
    assert!(notes.iter().any(|n| n == "The model is a Functional named tiny."), "{notes:?}");
}

#[test]
fn a_deflated_weights_member_is_refused_with_a_sentence() {
    let bytes = rebuilt(|name, data| (data.to_vec(), name == WEIGHTS));
    let text = sentence(opened(bytes).err().expect("deflated weights must be refused"));
    assert!(text.contains("deflated") && text.contains(WEIGHTS), "{text}");
}

#[test]
fn a_broken_config_still_lists_by_the_weights_file_with_a_note() {
    let bytes =
        rebuilt(|name, data| (if name == CONFIG { b"{\"class_name\": ".to_vec() } else { data.to_vec() }, false));
    let file = opened(bytes).unwrap();
    assert!(file.names().contains(&"stem/kernel".to_string()), "{:?}", file.names());
    assert!(file.notes().iter().any(|n| n.contains(CONFIG)), "{:?}", file.notes());
    // A config deflated (allowed: it is read whole) names as usual.
    let file = opened(rebuilt(|name, data| (data.to_vec(), name == CONFIG))).unwrap();
    assert_eq!(&file.names()[..2], ["stem/kernel", "stem/bias"]);
}

#[test]
fn a_keras_zip_without_weights_or_with_cut_weights_fails_with_a_sentence() {
    let without: Vec<(String, Vec<u8>)> = members().into_iter().filter(|(n, _)| n != WEIGHTS).collect();
    let bytes = zip_of(&without.iter().map(|(n, d)| (n.as_str(), d.as_slice(), false)).collect::<Vec<_>>());
    assert!(sentence(opened(bytes).err().unwrap()).contains(WEIGHTS));
    let cut =
        rebuilt(|name, data| (if name == WEIGHTS { data[..data.len() / 3].to_vec() } else { data.to_vec() }, false));
    sentence(opened(cut).err().expect("a third of the weights file cannot open"));
}

#[test]
fn every_cut_of_a_keras_file_is_an_error_not_a_panic() {
    for bytes in [KERAS2, KERAS3, HF] {
        let step = (bytes.len() / 300).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            if let Ok(file) = opened(bytes[..cut].to_vec()) {
                for i in 0..file.names().len() {
                    let _ = file.info(i);
                    let _ = file.read(i);
                }
            }
        }
    }
}

#[test]
fn a_part_stays_inside_its_range() {
    let outer: Rc<dyn ByteSource> = Rc::new(SliceSource((0u8..100).collect::<Vec<_>>()));
    let part = Part::new(Rc::clone(&outer), 10, 20).unwrap();
    let mut buf = [0u8; 4];
    part.read_at(16, &mut buf).unwrap();
    assert_eq!((buf, part.len()), ([26, 27, 28, 29], 20));
    assert!(part.read_at(17, &mut buf).is_err());
    assert!(part.read_at(u64::MAX, &mut buf).is_err());
    assert!(Part::new(Rc::clone(&outer), 90, 20).is_err());
    assert!(Part::new(outer, u64::MAX, 2).is_err());
}

/// A group linked back under itself (found by the fuzzer): each object is walked once, quickly.
#[test]
fn a_group_linked_under_itself_is_walked_once() {
    let bytes = include_bytes!("../../fuzz/seeds/keras/keras3_cyclic.keras").to_vec();
    let started = std::time::Instant::now();
    if let Ok(file) = opened(bytes) {
        for i in 0..file.names().len() {
            let _ = file.read(i);
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
}

const VITLIKE: &[u8] = include_bytes!("../../tests/fixtures/committed/keras/keras3_vitlike.keras");

/// A tree that writes down every group whose members or attributes were asked for.
struct Asked<'a> {
    tree: &'a dyn Tree,
    paths: std::cell::RefCell<Vec<String>>,
}

impl Tree for Asked<'_> {
    fn children(&self, path: &str) -> Result<Vec<(String, bool)>> {
        self.paths.borrow_mut().push(path.to_string());
        self.tree.children(path)
    }
    fn strings(&self, path: &str, attr: &str) -> Option<Vec<String>> {
        self.paths.borrow_mut().push(path.to_string());
        self.tree.strings(path, attr)
    }
    fn object_id(&self, path: &str) -> Result<Option<u64>> {
        self.tree.object_id(path)
    }
    fn member_names(&self, path: &str) -> Result<Vec<String>> {
        self.paths.borrow_mut().push(path.to_string());
        self.tree.member_names(path)
    }
}

/// A committed .keras's weights file and config, opened.
fn weights_and_config(bytes: &[u8]) -> (Hdf5File, ConfigLayer) {
    let source: Rc<dyn ByteSource> = Rc::new(SliceSource(bytes.to_vec()));
    let archive = ZipArchive::read(&*source).unwrap();
    let entry = |name: &str| archive.entries.iter().find(|e| e.name == name).unwrap();
    let config = keras_layout::parse_config(&read_json(&*source, entry(CONFIG)).unwrap()).unwrap();
    let weights = entry(WEIGHTS);
    let start = weights.read_prefix(&*source, 0).unwrap().data_start;
    let file = Hdf5File::open(Rc::new(Part::new(source, start, weights.size).unwrap())).unwrap();
    (file, config)
}

#[test]
fn the_plan_names_what_the_full_walk_names_without_asking_the_planned_layers() {
    for (bytes, planned_groups) in [
        (KERAS3, &["layers/conv2d", "layers/batch_normalization", "layers/conv2d_1", "layers/dense"][..]),
        (VITLIKE, &["layers/dense", "layers/functional/layers/conv2d", "layers/functional/layers/layer_normalization"]),
    ] {
        let (file, config) = weights_and_config(bytes);
        let walked = keras_layout::keras3_weights(&FileTree(&file), Some(&config)).unwrap();
        let asked = Asked { tree: &FileTree(&file), paths: Default::default() };
        let plan = keras_plan::keras3_plan(&asked, &config).unwrap().expect("a Keras-written file is planned");
        assert_eq!(plan.weights, walked);
        let paths = asked.paths.borrow();
        for group in planned_groups {
            assert!(!paths.iter().any(|p| p.starts_with(group)), "{group} was read at open: {paths:?}");
            let check = plan.checks.iter().find(|c| c.group == *group).unwrap_or_else(|| panic!("no check of {group}"));
            keras_plan::check_layer(&FileTree(&file), check).unwrap();
        }
        assert_eq!(plan.check_of.len(), plan.weights.len());
    }
}

#[test]
fn a_layer_unlike_its_config_fails_its_check_with_a_sentence() {
    let (file, config) = weights_and_config(KERAS3);
    let plan = keras_plan::keras3_plan(&FileTree(&file), &config).unwrap().unwrap();
    let stem = plan.checks.iter().find(|c| c.group == "layers/conv2d").unwrap().clone();
    let wrong = [
        LayerCheck { name: "not_stem".into(), ..stem.clone() },
        LayerCheck { datasets: vec!["0".into()], ..stem.clone() },
        LayerCheck { group: "layers".into(), ..stem.clone() },
        LayerCheck { group: "layers/conv2d/vars/0".into(), ..stem },
    ];
    for check in wrong {
        let text = sentence(keras_plan::check_layer(&FileTree(&file), &check).unwrap_err());
        assert!(text.contains(&check.name) && text.contains(CONFIG), "{text}");
    }
}

#[test]
fn a_group_the_config_does_not_name_sends_the_file_to_the_full_walk() {
    let (file, mut config) = weights_and_config(KERAS3);
    // Without the config's last layer, its group (`layers/dense`) is one the plan cannot account for.
    config.layers.pop();
    assert!(keras_plan::keras3_plan(&FileTree(&file), &config).unwrap().is_none());
}

#[test]
fn config_flags_decide_the_planned_variables() {
    let plan = |class: &str, config: &str| keras_plan::planned_variables(class, &serde_json::from_str(config).unwrap());
    assert_eq!(plan("Conv2D", r#"{"name": "c"}"#), Some(vec!["kernel", "bias"]));
    assert_eq!(plan("Dense", r#"{"use_bias": false}"#), Some(vec!["kernel"]));
    assert_eq!(
        plan("BatchNormalization", r#"{"center": false}"#),
        Some(vec!["gamma", "moving_mean", "moving_variance"])
    );
    assert_eq!(plan("EinsumDense", r#"{"bias_axes": "d"}"#), Some(vec!["kernel", "bias"]));
    assert_eq!(plan("EinsumDense", r#"{"bias_axes": null}"#), Some(vec!["kernel"]));
    // What the config leaves open is read from the file.
    assert_eq!(plan("Dense", r#"{"use_bias": "yes"}"#), None);
    assert_eq!(
        plan("Dense", r#"{"dtype": {"class_name": "QuantizedDTypePolicy", "config": {"name": "int8_from_float32"}}}"#),
        None
    );
    assert_eq!(plan("Dense", r#"{"lora_rank": 4}"#), None);
    assert_eq!(plan("LayerNormalization", r#"{"rms_scaling": true}"#), None);
    assert_eq!(plan("MyBlock", r#"{}"#), None);
}
