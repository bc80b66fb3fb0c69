use super::*;
use crate::error::Error;
use std::collections::BTreeMap;

/// An HDF5-like tree in memory: every object by path (true = group) and string attributes.
#[derive(Default)]
struct FakeTree {
    objects: BTreeMap<String, bool>,
    attrs: HashMap<(String, String), Vec<String>>,
    damaged: HashSet<String>,
}

impl FakeTree {
    fn group(mut self, path: &str) -> Self {
        let mut at = String::new();
        for part in path.split('/') {
            at = join(&at, part);
            self.objects.insert(at.clone(), true);
        }
        self
    }
    fn dataset(mut self, path: &str) -> Self {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self = self.group(parent);
        }
        self.objects.insert(path.into(), false);
        self
    }
    fn attr(mut self, path: &str, name: &str, values: &[&str]) -> Self {
        self.attrs.insert((path.into(), name.into()), values.iter().map(|v| v.to_string()).collect());
        self
    }
    /// A Keras 3 layer group with `n` variables and the `name` attribute Keras 3.15 writes.
    fn layer3(self, group: &str, name: Option<&str>, n: usize) -> Self {
        let vars = format!("{group}/vars");
        let mut tree = self.group(&vars);
        for i in 0..n {
            tree = tree.dataset(&format!("{vars}/{i}"));
        }
        match name {
            Some(name) => tree.attr(&vars, "name", &[name]),
            None => tree,
        }
    }
}

impl Tree for FakeTree {
    fn children(&self, path: &str) -> Result<Vec<(String, bool)>> {
        if self.damaged.contains(path) {
            return Err(Error::Malformed("The group is damaged.".into()));
        }
        let path = resolve(path);
        let path = path.as_str();
        Ok(self
            .objects
            .iter()
            .filter_map(|(p, g)| {
                let rest = if path.is_empty() { Some(p.as_str()) } else { p.strip_prefix(&format!("{path}/")) };
                rest.filter(|r| !r.contains('/')).map(|r| (r.to_string(), *g))
            })
            .collect())
    }
    fn object_id(&self, path: &str) -> Result<Option<u64>> {
        use std::hash::{Hash, Hasher};
        let resolved = resolve(path);
        if !resolved.is_empty() && !self.objects.contains_key(&resolved) {
            return Ok(None);
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        resolved.hash(&mut hasher);
        Ok(Some(hasher.finish()))
    }
    fn strings(&self, path: &str, attr: &str) -> Option<Vec<String>> {
        self.attrs.get(&(path.to_string(), attr.to_string())).cloned()
    }
}

/// A group named `loop` is a hard link back to its parent: `a/loop/b` is `a/b`.
fn resolve(path: &str) -> String {
    path.split('/').filter(|p| *p != "loop").collect::<Vec<_>>().join("/")
}

fn names(weights: &[Weight]) -> Vec<&str> {
    weights.iter().map(|w| w.name.as_str()).collect()
}

#[test]
fn snake_case_is_keras_own() {
    for (class, snake) in [
        ("Conv2D", "conv2d"),
        ("BatchNormalization", "batch_normalization"),
        ("DepthwiseConv2D", "depthwise_conv2d"),
        ("GlobalAveragePooling2D", "global_average_pooling2d"),
        ("InputLayer", "input_layer"),
        ("Functional", "functional"),
        ("Conv2DTranspose", "conv2d_transpose"),
        ("PReLU", "p_re_lu"),
        ("EinsumDense", "einsum_dense"),
    ] {
        assert_eq!(to_snake_case(class), snake, "{class}");
    }
    assert_eq!(class_of_group("conv2d_12"), Some("Conv2D"));
    assert_eq!(class_of_group("batch_normalization"), Some("BatchNormalization"));
    assert_eq!(class_of_group("my_block_1"), None);
}

#[test]
fn keras2_lists_in_layer_then_weight_order_and_joins_split_names() {
    let tree = FakeTree::default()
        .attr("model_weights", "layer_names0", &["stem", "a_conv"])
        .attr("model_weights", "layer_names1", &["pool", "head"])
        .attr("model_weights/stem", "weight_names", &["stem/kernel:0", "stem/bias:0"])
        .attr("model_weights/a_conv", "weight_names", &["a_conv/kernel:0"])
        .attr("model_weights/head", "weight_names", &["head/kernel:0"]);
    assert_eq!(keras2_base(&tree), Some("model_weights"));
    // `pool` has no weight_names: Keras writes one for every layer, so this is not (yet) a Keras file.
    assert_eq!(keras2_weights(&tree, "model_weights"), None);
    let tree = tree.attr("model_weights/pool", "weight_names", &[]);
    let weights = keras2_weights(&tree, "model_weights").unwrap();
    assert_eq!(names(&weights), ["stem/kernel:0", "stem/bias:0", "a_conv/kernel:0", "head/kernel:0"]);
    assert_eq!(weights[2].path, "model_weights/a_conv/a_conv/kernel:0");
    // save_weights keeps the layers at the root.
    let tree = FakeTree::default().attr("", "layer_names", &["vit"]).attr("vit", "weight_names", &["m/vit/k:0"]);
    assert_eq!(keras2_base(&tree), Some(""));
    assert_eq!(keras2_weights(&tree, "").unwrap()[0].path, "vit/m/vit/k:0");
    assert_eq!(keras2_base(&FakeTree::default().group("layers")), None);
}

#[test]
fn keras2_shows_a_shared_weight_name_with_its_layer() {
    let tree = FakeTree::default().attr("", "layer_names", &["a", "b"]).attr("a", "weight_names", &["kernel:0"]).attr(
        "b",
        "weight_names",
        &["kernel:0"],
    );
    assert_eq!(names(&keras2_weights(&tree, "").unwrap()), ["kernel:0", "b/kernel:0"]);
}

fn tiny3(with_names: bool) -> FakeTree {
    let n = |name| with_names.then_some(name);
    FakeTree::default()
        .layer3("layers/input_layer", n("input_layer"), 0)
        .layer3("layers/conv2d", n("stem"), 2)
        .layer3("layers/batch_normalization", n("bn"), 4)
        .layer3("layers/conv2d_1", n("a_conv"), 2)
        .layer3("layers/dense", n("head"), 2)
        .layer3("layers/mystery", n("odd"), 1)
        .group("vars")
}

const TINY_CONFIG: &str = r#"{"class_name": "Functional", "config": {"name": "tiny", "layers": [
    {"class_name": "InputLayer", "config": {"name": "input_layer"}},
    {"class_name": "Conv2D", "config": {"name": "stem"}},
    {"class_name": "BatchNormalization", "config": {"name": "bn", "center": true, "scale": true}},
    {"class_name": "Conv2D", "config": {"name": "a_conv", "use_bias": true}},
    {"class_name": "Dense", "config": {"name": "head"}}]}}"#;

#[test]
fn keras3_with_config_lists_in_model_order_by_layer_and_variable_name() {
    let config = parse_config(TINY_CONFIG.as_bytes()).unwrap();
    assert_eq!((config.class.as_str(), config.name.as_str()), ("Functional", "tiny"));
    // With the names Keras 3.15 stores and without them (older Keras 3: matched by class and counter).
    for with_names in [true, false] {
        let weights = keras3_weights(&tiny3(with_names), Some(&config)).unwrap();
        let odd = if with_names { "odd/vars/0" } else { "layers/mystery/vars/0" };
        assert_eq!(
            names(&weights),
            [
                "stem/kernel",
                "stem/bias",
                "bn/gamma",
                "bn/beta",
                "bn/moving_mean",
                "bn/moving_variance",
                "a_conv/kernel",
                "a_conv/bias",
                "head/kernel",
                "head/bias",
                odd,
            ],
            "names stored: {with_names}"
        );
        assert_eq!(weights[6].path, "layers/conv2d_1/vars/0");
    }
}

#[test]
fn keras3_without_config_lists_in_natural_group_order() {
    let tree = tiny3(true).layer3("layers/conv2d_10", Some("late"), 1).layer3("layers/conv2d_2", Some("mid"), 1);
    let weights = keras3_weights(&tree, None).unwrap();
    let got = names(&weights);
    assert_eq!(&got[..6], ["bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance", "stem/kernel", "stem/bias"]);
    assert_eq!(
        &got[6..],
        ["a_conv/kernel", "a_conv/bias", "mid/kernel", "late/kernel", "head/kernel", "head/bias", "odd/vars/0"]
    );
    // No stored names and no config: the group paths.
    assert_eq!(names(&keras3_weights(&tiny3(false), None).unwrap())[4], "layers/conv2d/vars/0");
}

#[test]
fn keras3_nested_models_are_named_from_the_top() {
    let tree = FakeTree::default()
        .layer3("layers/functional", Some("backbone"), 0)
        .layer3("layers/functional/layers/conv2d", Some("patch_embed"), 2)
        .layer3("layers/functional/layers/layer_normalization", Some("ln"), 2)
        .layer3("layers/dense", Some("head"), 2);
    let config = r#"{"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "InputLayer", "config": {"name": "input_layer_1"}},
        {"class_name": "Functional", "config": {"name": "backbone", "layers": [
            {"class_name": "InputLayer", "config": {"name": "input_layer"}},
            {"class_name": "Conv2D", "config": {"name": "patch_embed"}},
            {"class_name": "LayerNormalization", "config": {"name": "ln"}}]}},
        {"class_name": "Flatten", "config": {"name": "flat"}},
        {"class_name": "Dense", "config": {"name": "head"}}]}}"#;
    let want = ["backbone/patch_embed/kernel", "backbone/patch_embed/bias", "backbone/ln/gamma", "backbone/ln/beta"];
    let with = keras3_weights(&tree, parse_config(config.as_bytes()).as_ref()).unwrap();
    assert_eq!(names(&with), [&want[..], &["head/kernel", "head/bias"]].concat());
    // Without the config the stored names give the same names; the order is the file's.
    let without = keras3_weights(&tree, None).unwrap();
    assert_eq!(names(&without), [&["head/kernel", "head/bias"], &want[..]].concat());
}

#[test]
fn keras3_layers_without_bias_or_centering_keep_their_names() {
    let tree =
        FakeTree::default().layer3("layers/conv2d", Some("c"), 1).layer3("layers/batch_normalization", Some("b"), 3);
    let config = r#"{"class_name": "Functional", "config": {"layers": [
        {"class_name": "Conv2D", "config": {"name": "c", "use_bias": false}},
        {"class_name": "BatchNormalization", "config": {"name": "b", "center": false}}]}}"#;
    let weights = keras3_weights(&tree, parse_config(config.as_bytes()).as_ref()).unwrap();
    assert_eq!(names(&weights), ["c/kernel", "b/gamma", "b/moving_mean", "b/moving_variance"]);
}

#[test]
fn a_broken_or_foreign_config_is_no_config() {
    assert!(parse_config(b"{not json").is_none());
    assert!(parse_config(b"[1, 2]").is_none());
    assert!(parse_config(br#"{"class_name": 3}"#).is_none());
    // A config whose layers are not where Keras puts them names nothing; the file's groups still list.
    let odd = parse_config(br#"{"class_name": "Functional", "config": {"layers": "no"}}"#).unwrap();
    assert_eq!(keras3_weights(&tiny3(true), Some(&odd)).unwrap().len(), 11);
}

#[test]
fn deep_or_huge_trees_stay_bounded() {
    let mut path = String::from("layers/functional");
    let mut tree = FakeTree::default();
    for _ in 0..(MAX_DEPTH * 2) {
        tree = tree.layer3(&path, Some("f"), 1);
        path.push_str("/layers/functional");
    }
    let weights = keras3_weights(&tree, None).unwrap();
    assert!(!weights.is_empty() && weights.len() <= MAX_DEPTH + 1, "{}", weights.len());
    let mut nested = String::from("{\"class_name\": \"Functional\", \"config\": {\"layers\": [");
    for _ in 0..200 {
        nested.push_str("{\"class_name\": \"Functional\", \"config\": {\"layers\": [");
    }
    nested.push_str(&"]}}".repeat(201));
    // serde_json refuses nesting past 128 levels; either way nothing overflows the stack.
    let _ = parse_config(nested.as_bytes());
}

#[test]
fn a_damaged_group_is_an_error_not_a_shorter_list() {
    let mut tree = tiny3(true);
    tree.damaged.insert("layers/conv2d_1/vars".into());
    let config = parse_config(TINY_CONFIG.as_bytes()).unwrap();
    assert!(keras3_weights(&tree, Some(&config)).is_err());
    assert!(keras3_weights(&tree, None).is_err());
}

#[test]
fn a_group_linked_back_to_its_parent_is_walked_once() {
    // Every level holds a link back to itself twice over: without identity this walk is 2^depth.
    let tree = tiny3(true).group("layers/loop").group("layers/conv2d/loop");
    let weights = keras3_weights(&tree, None).unwrap();
    assert_eq!(weights.len(), 11, "{:?}", names(&weights));
}

#[test]
fn keras3_needs_the_models_vars_beside_its_layers() {
    assert!(is_keras3(&tiny3(true)));
    assert!(!is_keras3(&FakeTree::default().group("layers/stem/conv")));
    assert!(!is_keras3(&FakeTree::default().group("vars")));
}
