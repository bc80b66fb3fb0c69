use super::*;
use crate::container::open_with;
use crate::container::protobuf::write_varint as varint;
use crate::source::{Metered, SliceSource};
use crate::tensor::{DType, Values};
use tf_table::{crc32c, mask};

fn field(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(number) << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn varint_field(number: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(number) << 3, &mut out);
    varint(value, &mut out);
    out
}

fn header(shards: u64) -> Vec<u8> {
    [varint_field(1, shards), field(3, &varint_field(1, 1))].concat()
}

fn entry(dtype: u64, shape: &[u64], offset: u64, data: &[u8]) -> Vec<u8> {
    let dims: Vec<u8> = shape.iter().flat_map(|&d| field(2, &varint_field(1, d))).collect();
    let mut out =
        [varint_field(1, dtype), field(2, &dims), varint_field(4, offset), varint_field(5, data.len() as u64)].concat();
    out.push(6 << 3 | 5);
    out.extend_from_slice(&mask(crc32c(&[data])).to_le_bytes());
    out
}

/// A block as LevelDB's BlockBuilder writes it (a restart every `interval` keys), without trailer.
fn block(items: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Vec<u8> {
    let (mut out, mut restarts, mut last): (Vec<u8>, Vec<u32>, Vec<u8>) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (key, value)) in items.iter().enumerate() {
        let shared = if i % interval == 0 {
            restarts.push(out.len() as u32);
            0
        } else {
            key.iter().zip(&last).take_while(|(a, b)| a == b).count()
        };
        varint(shared as u64, &mut out);
        varint((key.len() - shared) as u64, &mut out);
        varint(value.len() as u64, &mut out);
        out.extend_from_slice(&key[shared..]);
        out.extend_from_slice(value);
        last = key.clone();
    }
    if restarts.is_empty() {
        restarts.push(0);
    }
    restarts.iter().for_each(|r| out.extend_from_slice(&r.to_le_bytes()));
    out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
    out
}

/// Appends a block and its trailer to `file`; returns its handle, encoded.
fn put_block(file: &mut Vec<u8>, contents: &[u8]) -> Vec<u8> {
    let mut handle = Vec::new();
    varint(file.len() as u64, &mut handle);
    varint(contents.len() as u64, &mut handle);
    file.extend_from_slice(contents);
    file.push(0);
    file.extend_from_slice(&mask(crc32c(&[contents, &[0]])).to_le_bytes());
    handle
}

/// A whole index: one data block holding `items`, an empty metaindex, the index block, the footer.
fn table_of(data_block: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    let data = put_block(&mut file, data_block);
    let meta = put_block(&mut file, &block(&[], 16));
    let index = put_block(&mut file, &block(&[(b"z".to_vec(), data)], 1));
    let mut footer = [meta, index].concat();
    footer.resize(40, 0);
    footer.extend_from_slice(&tf_table::TABLE_MAGIC.to_le_bytes());
    file.extend(footer);
    file
}

fn kernel_bytes() -> Vec<u8> {
    (0..2 * 2 * 3 * 2).flat_map(|i| (i as f32 * 0.5).to_le_bytes()).collect()
}

fn items(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (Vec::new(), header(1)),
        (b"embedding/bias".to_vec(), entry(1, &[2], 0, &[0u8; 8])),
        (b"embedding/kernel/.ATTRIBUTES/VARIABLE_VALUE".to_vec(), entry(1, &[2, 2, 3, 2], 8, data)),
        (b"step".to_vec(), entry(9, &[], 0, &[0u8; 8])),
    ]
}

fn open_pair(index: Vec<u8>, data: Vec<u8>) -> Result<Box<dyn Container>> {
    let data = NamedSource { name: "ckpt.data-00000-of-00001".into(), source: Rc::new(SliceSource(data)) };
    open_with(Rc::new(SliceSource(index)), &[data])
}

fn data_file() -> Vec<u8> {
    [vec![0u8; 8], kernel_bytes()].concat()
}

fn sentence(result: Result<impl Sized>) -> String {
    let text = result.err().expect("an error").to_string();
    assert!(text.ends_with('.') && !text.contains("ONNX"), "{text}");
    text
}

#[test]
fn lists_and_reads_a_written_index() {
    let index = table_of(&block(&items(&kernel_bytes()), 2));
    let bundle = open_pair(index, data_file()).unwrap();
    assert_eq!(bundle.format(), "tensorflow");
    assert_eq!(bundle.names(), ["embedding/bias", "embedding/kernel", "step"]);
    assert_eq!(bundle.info(2).unwrap().dtype, DType::Other("int64".into()));
    let tensor = bundle.read(1).unwrap();
    assert_eq!(tensor.info.shape, [2, 2, 3, 2]);
    assert_eq!(tensor.values, Values::F32((0..24).map(|i| i as f32 * 0.5).collect()));
    assert!(sentence(bundle.read(2)).contains("int64"));
}

#[test]
fn a_tensor_whose_bytes_changed_fails_its_checksum() {
    let index = table_of(&block(&items(&kernel_bytes()), 16));
    let mut data = data_file();
    data[10] ^= 1;
    let bundle = open_pair(index, data).unwrap();
    assert!(sentence(bundle.read(1)).contains("checksum"));
}

#[test]
fn entries_past_the_data_file_and_missing_files_are_sentences() {
    let index = table_of(&block(&items(&kernel_bytes()), 16));
    let bundle = open_pair(index.clone(), vec![0u8; 20]).unwrap();
    assert!(sentence(bundle.read(1)).contains("only 20 bytes long"));
    let alone = open_with(Rc::new(SliceSource(index.clone())), &[]);
    assert!(sentence(alone).contains(".data-00000-of-00001"));
    let named = TfBundle::open_named(Rc::new(SliceSource(index)), "model", &[]);
    assert!(sentence(named).contains("model.data-00000-of-00001"));
}

fn damaged(file: Vec<u8>) -> String {
    let data = NamedSource { name: "ckpt.data-00000-of-00001".into(), source: Rc::new(SliceSource(data_file())) };
    sentence(TfBundle::open(Rc::new(SliceSource(file)), &[data]))
}

#[test]
fn damaged_tables_are_sentences() {
    let good = table_of(&block(&items(&kernel_bytes()), 16));
    // A flipped byte inside the data block: its checksum no longer matches.
    let mut file = good.clone();
    file[20] ^= 0x40;
    assert!(damaged(file).contains("checksum"));
    // The footer's magic.
    let mut file = good.clone();
    let last = file.len() - 1;
    file[last] ^= 1;
    assert!(sentence(open_pair(file, data_file())).contains("magic number"));
    // A compressed block (type 1, snappy), with a checksum that matches.
    let contents = block(&items(&kernel_bytes()), 16);
    let mut file = table_of(&contents);
    let at = contents.len();
    file[at] = 1;
    let crc = mask(crc32c(&[&contents, &[1]])).to_le_bytes();
    file[at + 1..at + 5].copy_from_slice(&crc);
    assert!(damaged(file).contains("compresses"));
}

/// Rewrites the data block of a table with `edit` and reseals it (a valid checksum over damaged contents).
fn with_block(edit: impl Fn(&mut Vec<u8>)) -> String {
    let mut contents = block(&items(&kernel_bytes()), 16);
    edit(&mut contents);
    damaged(table_of(&contents))
}

#[test]
fn hostile_blocks_are_sentences() {
    // Zero restarts.
    assert!(with_block(|b| {
        let n = b.len();
        b[n - 4..].copy_from_slice(&0u32.to_le_bytes());
    })
    .contains("no restart points"));
    // More restarts than the block can hold.
    assert!(with_block(|b| {
        let n = b.len();
        b[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    })
    .contains("restart points"));
    // A restart offset past the entries.
    assert!(with_block(|b| {
        let n = b.len();
        b[n - 8..n - 4].copy_from_slice(&10_000u32.to_le_bytes());
    })
    .contains("restart point"));
    // The second entry shares more bytes than the first key has ("" has 0).
    // (The first entry is 3 length bytes and the 6-byte header.)
    assert!(with_block(|b| b[9] = 5).contains("shares 5 bytes"));
    // A key length running past the block.
    assert!(with_block(|b| b[10] = 0x7f).contains("runs past"));
    // A varint that never ends: every byte from the second entry on has its top bit set.
    assert!(with_block(|b| {
        let n = b.len() - 8;
        b[9..n].iter_mut().for_each(|x| *x = 0xff);
    })
    .contains("never ends"));
}

#[test]
fn hostile_index_blocks_and_entries_are_sentences() {
    // The index block points at itself.
    let mut file = Vec::new();
    let data = block(&items(&kernel_bytes()), 16);
    put_block(&mut file, &data);
    let meta = put_block(&mut file, &block(&[], 16));
    let index_at = file.len() as u64;
    let mut self_handle = Vec::new();
    varint(index_at, &mut self_handle);
    let index_block_len = block(&[(b"z".to_vec(), [self_handle.clone(), vec![0]].concat())], 1).len() as u64;
    varint(index_block_len, &mut self_handle);
    let index = put_block(&mut file, &block(&[(b"z".to_vec(), self_handle)], 1));
    let mut footer = [meta, index].concat();
    footer.resize(40, 0);
    footer.extend_from_slice(&tf_table::TABLE_MAGIC.to_le_bytes());
    file.extend(footer);
    assert!(damaged(file).contains("itself"));
    // A data block handle past the end.
    let mut file = Vec::new();
    let meta = put_block(&mut file, &block(&[], 16));
    let mut far = Vec::new();
    varint(1 << 40, &mut far);
    varint(100, &mut far);
    let index = put_block(&mut file, &block(&[(b"z".to_vec(), far)], 1));
    let mut footer = [meta, index].concat();
    footer.resize(40, 0);
    footer.extend_from_slice(&tf_table::TABLE_MAGIC.to_le_bytes());
    file.extend(footer);
    assert!(damaged(file).contains("past the end"));
    // Huge shapes: refused when read, before allocating.
    let mut huge = items(&kernel_bytes());
    huge[2].1 = entry(1, &[1 << 40, 1 << 40, 3, 8], 8, &kernel_bytes());
    let bundle = open_pair(table_of(&block(&huge, 16)), data_file()).unwrap();
    assert!(matches!(bundle.read(1), Err(Error::TooLarge(_))));
    // A negative dimension (an unknown size) and a shape with more dims than TF allows.
    let mut bad = items(&kernel_bytes());
    bad[2].1 = entry(1, &[u64::MAX], 8, &kernel_bytes());
    assert!(damaged(table_of(&block(&bad, 16))).contains("negative"));
    bad[2].1 = entry(1, &[1; 300], 8, &kernel_bytes());
    assert!(damaged(table_of(&block(&bad, 16))).contains("dimensions"));
    // An entry whose protobuf is cut: a sentence about TensorFlow, not ONNX.
    bad[2].1 = vec![0x12, 0x7f, 0x01];
    assert!(damaged(table_of(&block(&bad, 16))).contains("not a valid message"));
    // Keys out of order; no header.
    let mut swapped = items(&kernel_bytes());
    swapped.swap(1, 2);
    assert!(damaged(table_of(&block(&swapped, 1))).contains("out of order"));
    assert!(damaged(table_of(&block(&items(&kernel_bytes())[1..], 16))).contains("no bundle header"));
}

#[test]
fn reads_the_committed_tf_checkpoint_within_two_reads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/committed/tf");
    let index = Metered::new(SliceSource(std::fs::read(dir.join("tf1_f32.index")).unwrap()));
    let data = Metered::new(SliceSource(std::fs::read(dir.join("tf1_f32.data-00000-of-00001")).unwrap()));
    let (index_stats, data_stats) = (index.stats(), data.stats());
    let shard = NamedSource { name: "tf1_f32.data-00000-of-00001".into(), source: Rc::new(data) };
    let bundle = open_with(Rc::new(index), &[shard]).unwrap();
    let at = bundle.names().iter().position(|n| n == "embedding/kernel").unwrap();
    let tensor = bundle.read(at).unwrap();
    assert_eq!(tensor.info.shape, [4, 4, 3, 8]);
    assert_eq!((index_stats.reads(), data_stats.reads(), data_stats.bytes()), (1, 1, 4 * 4 * 3 * 8 * 4));
    let partitioned = bundle.names().iter().position(|n| n == "head/partitioned").unwrap();
    assert!(sentence(bundle.read(partitioned)).contains("2 slices"));
}
