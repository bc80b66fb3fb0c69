//! A small HDF5 writer for the warm-up files: the file h5py writes by default (superblock 0, version 1 object
//! headers, groups as symbol tables — a version 1 B-tree over one "SNOD" node, names in a local heap), with
//! float32 datasets stored contiguous or chunked through shuffle + deflate, and fixed-length string attributes
//! (Keras 2's `layer_names` and `weight_names`). Laid out children first, so every address is known when written.

use std::collections::BTreeMap;

const UNDEFINED: u64 = u64::MAX;
/// Superblock version 0 with 8-byte offsets and lengths, its root group's symbol table entry included.
const SUPERBLOCK: usize = 96;
/// The B-tree's internal-node K: nodes are allocated for 2K children whatever they hold, as the library does.
const INTERNAL_K: usize = 16;

/// How a dataset's bytes are stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Storage {
    Contiguous,
    /// One chunk the size of the dataset, shuffled and deflated (h5py's `shuffle=True, compression="gzip"`).
    ShuffledGzip,
}

/// A group's members (by name: a symbol table keeps them sorted) and its string attributes.
#[derive(Default)]
pub(super) struct Group {
    members: BTreeMap<String, Node>,
    attributes: Vec<(String, Vec<String>)>,
}

enum Node {
    Group(Group),
    Dataset { shape: Vec<usize>, data: Vec<u8>, storage: Storage },
}

impl Group {
    /// Adds a float32 dataset at `path` (parts joined by `/`), making the groups on the way.
    pub(super) fn dataset(&mut self, path: &str, shape: &[usize], data: Vec<u8>, storage: Storage) {
        let (groups, name) = path.rsplit_once('/').map_or(("", path), |(g, n)| (g, n));
        let group = self.group(groups);
        group.members.insert(name.to_string(), Node::Dataset { shape: shape.to_vec(), data, storage });
    }

    /// Sets an attribute of the group at `path` ("" for this one) to fixed-length strings.
    pub(super) fn strings(&mut self, path: &str, name: &str, values: Vec<String>) {
        self.group(path).attributes.push((name.to_string(), values));
    }

    fn group(&mut self, path: &str) -> &mut Group {
        let mut group = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let node = group.members.entry(part.to_string()).or_insert_with(|| Node::Group(Group::default()));
            group = match node {
                Node::Group(g) => g,
                Node::Dataset { .. } => unreachable!("warm-up paths never put a group inside a dataset"),
            };
        }
        group
    }

    fn widest(&self) -> usize {
        let below = self.members.values().map(|n| if let Node::Group(g) = n { g.widest() } else { 0 });
        below.fold(self.members.len(), usize::max)
    }
}

/// The file holding `root`.
pub(super) fn file(root: &Group) -> Vec<u8> {
    // A symbol-table node holds 2 × (leaf K) entries: K is chosen so that every group fits in one node.
    let leaf_k = root.widest().div_ceil(2).max(4);
    let mut w = Writer { out: vec![0; SUPERBLOCK], leaf_k };
    let (root_header, btree, heap) = w.group(root);
    let eof = w.out.len() as u64;
    let mut s = Vec::with_capacity(SUPERBLOCK);
    s.extend_from_slice(b"\x89HDF\r\n\x1a\n");
    s.extend_from_slice(&[0, 0, 0, 0, 0, 8, 8, 0]); // versions, sizes of offsets and lengths
    s.extend_from_slice(&(leaf_k as u16).to_le_bytes());
    s.extend_from_slice(&(INTERNAL_K as u16).to_le_bytes());
    s.extend_from_slice(&0u32.to_le_bytes()); // consistency flags
    for address in [0, UNDEFINED, eof, UNDEFINED] {
        s.extend_from_slice(&address.to_le_bytes()); // base, free space, end of file, driver block
    }
    symbol_entry(&mut s, 0, root_header, Some((btree, heap)));
    debug_assert_eq!(s.len(), SUPERBLOCK);
    w.out[..SUPERBLOCK].copy_from_slice(&s);
    w.out
}

/// Appends structures at 8-aligned addresses; `leaf_k` sizes every symbol-table node, as the superblock says.
struct Writer {
    out: Vec<u8>,
    leaf_k: usize,
}

/// A symbol table entry: name's heap offset, header address, cache type (1 with the group's B-tree and heap).
fn symbol_entry(out: &mut Vec<u8>, name: u64, header: u64, cached: Option<(u64, u64)>) {
    out.extend_from_slice(&name.to_le_bytes());
    out.extend_from_slice(&header.to_le_bytes());
    out.extend_from_slice(&u32::from(cached.is_some()).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let (btree, heap) = cached.unwrap_or((0, 0));
    out.extend_from_slice(&btree.to_le_bytes());
    out.extend_from_slice(&heap.to_le_bytes());
}

fn pad8(bytes: &mut Vec<u8>) {
    bytes.resize(bytes.len().next_multiple_of(8), 0);
}

/// A version 1 dataspace of `dims`.
fn dataspace(dims: &[u64]) -> Vec<u8> {
    let mut m = vec![1, dims.len() as u8, 0, 0, 0, 0, 0, 0];
    dims.iter().for_each(|d| m.extend_from_slice(&d.to_le_bytes()));
    m
}

/// IEEE float32, little-endian.
fn float32() -> Vec<u8> {
    let mut m = vec![0x11, 0x20, 31, 0];
    m.extend_from_slice(&4u32.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes()); // bit offset
    m.extend_from_slice(&32u16.to_le_bytes()); // precision
    m.extend_from_slice(&[23, 8, 0, 23]); // exponent at 23, 8 bits; mantissa at 0, 23 bits
    m.extend_from_slice(&127u32.to_le_bytes());
    m
}

impl Writer {
    fn at(&mut self) -> u64 {
        pad8(&mut self.out);
        self.out.len() as u64
    }

    fn put(&mut self, bytes: &[u8]) -> u64 {
        let at = self.at();
        self.out.extend_from_slice(bytes);
        at
    }

    /// A version 1 object header of `(type, body)` messages.
    fn header(&mut self, messages: &[(u16, Vec<u8>)]) -> u64 {
        let mut body = Vec::new();
        for (kind, data) in messages {
            let mut data = data.clone();
            pad8(&mut data);
            body.extend_from_slice(&kind.to_le_bytes());
            body.extend_from_slice(&(data.len() as u16).to_le_bytes());
            body.extend_from_slice(&[0; 4]); // flags, reserved
            body.extend_from_slice(&data);
        }
        let mut h = vec![1, 0];
        h.extend_from_slice(&(messages.len() as u16).to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes()); // reference count
        h.extend_from_slice(&(body.len() as u32).to_le_bytes());
        h.extend_from_slice(&[0; 4]); // messages start 8-aligned
        h.extend_from_slice(&body);
        self.put(&h)
    }

    fn dataset(&mut self, shape: &[usize], data: &[u8], storage: Storage) -> u64 {
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        // Fill value version 2: allocated late, written if set, none defined.
        let mut messages = vec![(0x01, dataspace(&dims)), (0x03, float32()), (0x05, vec![2, 2, 2, 0])];
        match storage {
            Storage::Contiguous => {
                let address = self.put(data);
                let mut layout = vec![3, 1];
                layout.extend_from_slice(&address.to_le_bytes());
                layout.extend_from_slice(&(data.len() as u64).to_le_bytes());
                messages.push((0x08, layout));
            }
            Storage::ShuffledGzip => {
                let stored = super::zlib_fixed(&super::shuffle(data, 4));
                let chunk = self.put(&stored);
                let btree = self.chunk_btree(&dims, chunk, stored.len());
                let mut layout = vec![3, 2, dims.len() as u8 + 1];
                layout.extend_from_slice(&btree.to_le_bytes());
                dims.iter().chain([&4]).for_each(|&d| layout.extend_from_slice(&(d as u32).to_le_bytes()));
                messages.push((0x08, layout));
                // Filter pipeline version 1: shuffle (its client value the element size), then deflate at level 4.
                let mut filters = vec![1, 2, 0, 0, 0, 0, 0, 0];
                for (id, value) in [(2u16, 4u32), (1, 4)] {
                    for field in [id, 0, 0, 1] {
                        filters.extend_from_slice(&field.to_le_bytes()); // id, name length, flags, values
                    }
                    filters.extend_from_slice(&value.to_le_bytes());
                    filters.extend_from_slice(&[0; 4]); // an odd count of values is padded
                }
                messages.push((0x0B, filters));
            }
        }
        self.header(&messages)
    }

    /// A chunk index (B-tree type 1) of one chunk at the origin.
    fn chunk_btree(&mut self, dims: &[u64], chunk: u64, stored: usize) -> u64 {
        let key = |n: &mut Vec<u8>, size: u32, offsets: &[u64]| {
            n.extend_from_slice(&size.to_le_bytes());
            n.extend_from_slice(&0u32.to_le_bytes()); // filter mask: every filter applied
            offsets.iter().chain([&0]).for_each(|o| n.extend_from_slice(&o.to_le_bytes()));
        };
        let mut n = b"TREE".to_vec();
        n.extend_from_slice(&[1, 0, 1, 0]);
        n.extend_from_slice(&UNDEFINED.to_le_bytes());
        n.extend_from_slice(&UNDEFINED.to_le_bytes());
        key(&mut n, stored as u32, &vec![0; dims.len()]);
        n.extend_from_slice(&chunk.to_le_bytes());
        key(&mut n, 0, dims);
        let key_size = 8 + 8 * (dims.len() + 1);
        n.resize(24 + (2 * INTERNAL_K + 1) * key_size + 2 * INTERNAL_K * 8, 0);
        self.put(&n)
    }

    /// The group's members (children first), its heap, symbol table node and B-tree, then its header: the
    /// addresses of its header, B-tree and heap (the superblock repeats the root's two).
    fn group(&mut self, group: &Group) -> (u64, u64, u64) {
        let members: Vec<(&String, u64)> = group
            .members
            .iter()
            .map(|(name, node)| {
                let header = match node {
                    Node::Group(g) => self.group(g).0,
                    Node::Dataset { shape, data, storage } => self.dataset(shape, data, *storage),
                };
                (name, header)
            })
            .collect();
        let mut names = vec![0u8; 8]; // offset 0: the empty name
        let mut offsets = Vec::new();
        for (name, _) in &members {
            offsets.push(names.len() as u64);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
            pad8(&mut names);
        }
        let heap_data = self.put(&names);
        let mut heap = b"HEAP\0\0\0\0".to_vec();
        // Data size, free list (1 is the library's "no free block", H5HL_FREE_NULL), data address.
        for field in [names.len() as u64, 1, heap_data] {
            heap.extend_from_slice(&field.to_le_bytes());
        }
        let heap = self.put(&heap);
        let mut node = b"SNOD\x01\0".to_vec();
        node.extend_from_slice(&(members.len() as u16).to_le_bytes());
        for ((_, header), &name) in members.iter().zip(&offsets) {
            symbol_entry(&mut node, name, *header, None);
        }
        node.resize(8 + 2 * self.leaf_k * 40, 0);
        let node = self.put(&node);
        let mut tree = b"TREE\0\0\x01\0".to_vec();
        for field in [UNDEFINED, UNDEFINED, 0, node, offsets.last().copied().unwrap_or(0)] {
            tree.extend_from_slice(&field.to_le_bytes()); // siblings, key, child, key (the last name)
        }
        tree.resize(24 + (2 * INTERNAL_K + 1) * 8 + 2 * INTERNAL_K * 8, 0);
        let btree = self.put(&tree);
        let mut table = btree.to_le_bytes().to_vec();
        table.extend_from_slice(&heap.to_le_bytes());
        let mut messages = vec![(0x11, table)];
        for (name, values) in &group.attributes {
            messages.push((0x0C, attribute(name, values)));
        }
        (self.header(&messages), btree, heap)
    }
}

/// An attribute message (version 1) of fixed-length, null-padded ASCII strings, as h5py stores numpy `S` arrays.
fn attribute(name: &str, values: &[String]) -> Vec<u8> {
    let width = values.iter().map(String::len).max().unwrap_or(0).max(1);
    let mut datatype = vec![0x13, 0x01, 0, 0];
    datatype.extend_from_slice(&(width as u32).to_le_bytes());
    let space = dataspace(&[values.len() as u64]);
    let mut name_bytes = name.as_bytes().to_vec();
    name_bytes.push(0);
    let mut m = vec![1, 0];
    for size in [name_bytes.len(), datatype.len(), space.len()] {
        m.extend_from_slice(&(size as u16).to_le_bytes());
    }
    for mut part in [name_bytes, datatype, space] {
        pad8(&mut part);
        m.extend_from_slice(&part);
    }
    for value in values {
        let mut v = value.as_bytes().to_vec();
        v.resize(width, 0);
        m.extend_from_slice(&v);
    }
    m
}
