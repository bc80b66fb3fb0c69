use super::*;

fn run(bytes: &[u8]) -> Result<Unpickled> {
    unpickle_bytes(bytes)
}

fn err(bytes: &[u8]) -> String {
    let e = run(bytes).err().expect("an error");
    let text = e.to_string();
    assert!(text.ends_with('.') && text.len() > 10, "{text}");
    text
}

/// {'w': _rebuild_tensor_v2(persistent ('storage', FloatStorage, '0', 'cpu', 6), 0, (2, 3), (3, 1), False, OrderedDict()),
///  'ns': argparse.Namespace() with state {'lr': 0.1}} as protocol 2 opcodes, as torch writes them.
fn state_dict() -> Vec<u8> {
    let mut p =
        b"\x80\x02}q\x00(X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00storage"
            .to_vec();
    p.extend_from_slice(
        b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQK\x00K\x02K\x03\x86K\x03K\x01\x86",
    );
    p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtR");
    p.extend_from_slice(
        b"X\x02\x00\x00\x00nscargparse\nNamespace\n)\x81}X\x02\x00\x00\x00lrG?\xb9\x99\x99\x99\x99\x99\x9asbu.",
    );
    p
}

#[test]
fn reads_a_state_dict_without_calling_anything() {
    let u = run(&state_dict()).unwrap();
    let Some(Node::Dict(entries)) = u.node(&u.root) else { panic!("not a dict") };
    assert_eq!(entries.len(), 2);
    let Some(Node::Tensor(t)) = u.node(&entries[0].1) else { panic!("not a tensor") };
    assert_eq!((t.offset, t.shape.clone(), t.stride.clone()), (0, vec![2, 3], vec![3, 1]));
    let Some(Node::Object { class, state: Some(state), .. }) = u.node(&entries[1].1) else { panic!("not opaque") };
    assert_eq!(u.global(class).map(|(m, n, _)| (m, n)), Some(("argparse", "Namespace")));
    assert!(matches!(u.node(state), Some(Node::Dict(_))));
    assert_eq!(u.refused, vec!["argparse.Namespace".to_string()]);
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = state_dict();
    for cut in 0..bytes.len() {
        let e = run(&bytes[..cut]).err().unwrap_or_else(|| panic!("cut at {cut} parsed"));
        assert!(e.to_string().ends_with('.'));
    }
}

#[test]
fn malformed_pickles_fail_with_a_sentence() {
    assert!(err(b"\x80\x02h\x05.").contains("memo entry 5"));
    assert!(err(b"\x80\x02j\xff\xff\xff\xff.").contains("memo entry 4294967295"));
    assert!(err(b"\x80\x020.").contains("underflow") || err(b"\x80\x020.").contains("MARK"));
    assert!(err(b"\x80\x02(a.").contains("stack"));
    assert!(err(b"\x80\x02K\x01a.").contains("stack"));
    assert!(err(b"\x80\x02K\x01K\x02a.").contains("not a list"));
    assert!(err(b"\x80\x02}K\x01s.").contains("empty stack"));
    assert!(err(b"\x80\x02u.").contains("MARK"));
    assert!(err(b"\x80\x02\xff.").contains("unknown opcode"));
    assert!(err(b"\x80\x06N.").contains("protocol 6"));
    assert!(err(b"\x80\x02\x97.").contains("NEXT_BUFFER"));
    assert!(err(b"\x80\x02\x82\x01.").contains("EXT"));
    assert!(err(b"\x80\x02.").contains("stack"));
    assert!(err(b"\x80\x02K\x01K\x02\x93.").contains("not strings"));
}

#[test]
fn lying_lengths_are_caught_before_allocating() {
    let mut p = b"\x80\x04\x8e".to_vec();
    p.extend_from_slice(&(1u64 << 30).to_le_bytes());
    p.extend_from_slice(b"abc.");
    assert!(matches!(run(&p), Err(Error::Truncated(_))));
    let mut p = b"\x80\x04\x8d".to_vec();
    p.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(run(&p), Err(Error::Truncated(_))));
    assert!(matches!(run(b"\x80\x02\x8b\xff\xff\xff\xff."), Err(Error::Malformed(_))));
    assert!(matches!(run(b"\x80\x02T\x00\x00\x00\x80."), Err(Error::Malformed(_))));
}

#[test]
fn stack_and_mark_bombs_hit_limits() {
    let mut lists = b"\x80\x02".to_vec();
    lists.extend(std::iter::repeat_n(b']', 100_000));
    lists.extend(std::iter::repeat_n(b'a', 99_999));
    lists.push(b'.');
    assert!(matches!(run(&lists), Err(Error::TooLarge(_))));
    let mut marks = b"\x80\x02".to_vec();
    marks.extend(std::iter::repeat_n(b'(', 100_000));
    assert!(matches!(run(&marks), Err(Error::TooLarge(_))));
}

#[test]
fn deep_nesting_within_limits_is_fine() {
    // 60 000 nested lists: no recursion anywhere, so no stack overflow building or dropping them.
    let mut lists = b"\x80\x02".to_vec();
    lists.extend(std::iter::repeat_n(b']', 60_000));
    lists.extend(std::iter::repeat_n(b'a', 59_999));
    lists.push(b'.');
    let u = run(&lists).unwrap();
    assert_eq!(u.nodes.len(), 60_000);
}

#[test]
fn memo_shared_lists_stay_shared() {
    // A list memoized then referenced 200 times: GET copies an index, not the list.
    let mut p = b"\x80\x02]q\x00(K\x01K\x02e0(".to_vec();
    for _ in 0..200 {
        p.extend_from_slice(b"h\x00");
    }
    p.extend_from_slice(b"l.");
    let u = run(&p).unwrap();
    assert_eq!(u.nodes.len(), 2);
}

#[test]
fn small_values_decode() {
    let u = run(b"\x80\x02(J\xff\xff\xff\xffM\x00\x01\x8a\x02\x00\x80\x8a\x00\x88\x89NG@\x00\x00\x00\x00\x00\x00\x00I42\nL7L\nF1.5\nt.")
        .unwrap();
    let Some(Node::Tuple(items)) = u.node(&u.root) else { panic!() };
    let want = [
        Value::Int(-1),
        Value::Int(256),
        Value::Int(-32768),
        Value::Int(0),
        Value::Bool(true),
        Value::Bool(false),
        Value::None,
        Value::Float(2.0),
        Value::Int(42),
        Value::Int(7),
        Value::Float(1.5),
    ];
    assert_eq!(items.as_slice(), &want);
}

#[test]
fn streamed_reads_come_in_chunks() {
    use crate::source::{Metered, SliceSource};
    // A 300 KB pickle (a long list of small ints) costs a handful of reads, not one per opcode.
    let mut p = b"\x80\x02]".to_vec();
    for _ in 0..150 {
        p.push(b'(');
        for i in 0..1000u32 {
            p.extend_from_slice(&[b'K', (i % 256) as u8]);
        }
        p.push(b'e');
    }
    p.push(b'.');
    let source = Metered::new(SliceSource(p));
    let stats = source.stats();
    unpickle(&mut PickleReader::new(&source, 0)).unwrap();
    assert!(stats.reads() <= 5, "{} reads", stats.reads());
}
