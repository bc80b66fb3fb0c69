use super::*;
use crate::remote::multipart::nginx_body;
use crate::remote::{Opened, RangesReply, RemoteStats, Reply};
use crate::source::ByteSource;
use std::cell::RefCell;
use std::rc::Rc;

/// How a test server answers a request for several ranges.
#[derive(Clone, Copy, Debug)]
enum Multi {
    /// As nginx: the parts in the order asked.
    Parts,
    /// As S3 and GCS: the whole file, 200.
    Whole,
    /// Only the first range, as a plain 206.
    First,
    /// Every range asked joined into one part (RFC 9110 lets a server join ranges).
    Joined,
    Unsatisfiable,
    /// The parts, then the body bent by `bend`.
    Bent(fn(Vec<u8>) -> Vec<u8>),
    /// The parts, but without the last one.
    MissingLast,
    /// The parts, each one byte later than asked.
    Shifted,
    /// A reply whose ETag is not the file's.
    OtherEtag,
}

struct Server {
    file: Vec<u8>,
    multi: Multi,
    /// The HEAD is answered with parts whatever the GET does (a cache in front that answers HEADs itself).
    lying_head: bool,
    /// (method, Range header) of every request.
    asked: RefCell<Vec<(&'static str, String)>>,
    /// How many ranges each `get_each` call asked for together.
    together: RefCell<Vec<usize>>,
}

impl Server {
    fn new(len: usize, multi: Multi) -> Server {
        let file = (0..len).map(|i| (i * 13 % 251) as u8).collect();
        Server { file, multi, lying_head: false, asked: RefCell::default(), together: RefCell::default() }
    }

    fn count(&self, method: &str) -> usize {
        self.asked.borrow().iter().filter(|(m, _)| *m == method).count()
    }
}

fn parse(header: &str) -> Vec<(u64, u64)> {
    let specs = header.strip_prefix("bytes=").unwrap();
    specs
        .split(',')
        .map(|s| s.split_once('-').map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())).unwrap())
        .collect()
}

const ETAG: &str = "\"v1\"";
const BOUNDARY: &str = "00000000042";

impl Transport for &Server {
    fn get(&self, first: u64, last: u64) -> Result<Reply> {
        self.asked.borrow_mut().push(("GET", format!("bytes={first}-{last}")));
        let size = self.file.len() as u64;
        let last = last.min(size - 1);
        Ok(Reply {
            status: 206,
            content_range: Some(format!("bytes {first}-{last}/{size}")),
            etag: Some(ETAG.into()),
            body: self.file[first as usize..=last as usize].to_vec(),
        })
    }

    fn head_size(&self) -> Result<Option<u64>> {
        Ok(Some(self.file.len() as u64))
    }

    fn get_each(&self, asks: &[(u64, u64)]) -> Vec<Result<Reply>> {
        self.together.borrow_mut().push(asks.len());
        asks.iter().map(|&(first, last)| self.get(first, last)).collect()
    }

    fn get_ranges(&self, header: &str, max_body: Option<usize>) -> Result<Option<RangesReply>> {
        self.asked.borrow_mut().push((if max_body.is_some() { "GET" } else { "HEAD" }, header.to_string()));
        let ranges = parse(header);
        let size = self.file.len();
        let multipart = Some(format!("multipart/byteranges; boundary={BOUNDARY}"));
        let etag = Some(ETAG.to_string());
        let parts = |ranges: &[(u64, u64)]| RangesReply {
            status: 206,
            content_type: multipart.clone(),
            etag: etag.clone(),
            body: nginx_body(BOUNDARY, &self.file, ranges),
            ..RangesReply::default()
        };
        let single = |(first, last): (u64, u64)| RangesReply {
            status: 206,
            content_type: Some("application/octet-stream".into()),
            content_range: Some(format!("bytes {first}-{last}/{size}")),
            etag: etag.clone(),
            body: self.file[first as usize..=last as usize].to_vec(),
        };
        let multi = if max_body.is_none() && self.lying_head { Multi::Parts } else { self.multi };
        let mut reply = match multi {
            Multi::Parts | Multi::Bent(_) => parts(&ranges),
            Multi::Whole => {
                RangesReply { status: 200, etag: etag.clone(), body: self.file.clone(), ..RangesReply::default() }
            }
            Multi::First => single(ranges[0]),
            Multi::Joined => single((ranges[0].0, ranges[ranges.len() - 1].1)),
            Multi::Unsatisfiable => RangesReply { status: 416, ..RangesReply::default() },
            Multi::MissingLast => parts(&ranges[..ranges.len() - 1]),
            Multi::Shifted => parts(&ranges.iter().map(|&(a, b)| (a + 1, b + 1)).collect::<Vec<_>>()),
            Multi::OtherEtag => RangesReply { etag: Some("\"v2\"".into()), ..parts(&ranges) },
        };
        if let Multi::Bent(bend) = multi {
            reply.body = bend(reply.body);
        }
        // A HEAD has no body, and a client never reads the body of a 200 to a multi-range request.
        if max_body.is_none() || reply.status != 206 {
            reply.body.clear();
        }
        Ok(Some(reply))
    }
}

fn ranged(server: &Server) -> RemoteSource<&Server> {
    match RemoteSource::open(server, "model.npz", Rc::new(RemoteStats::default())) {
        Ok(Opened::Ranged(source)) => source,
        _ => panic!("the server reads ranges"),
    }
}

/// Ranges past the probed head, spread over the file as an npz's headers are.
fn scattered(n: u64) -> Vec<(u64, u64)> {
    (0..n).map(|i| (100_000 + i * 7_000, 100_000 + i * 7_000 + 600)).collect()
}

fn expected(server: &Server, ranges: &[(u64, u64)]) -> Vec<Vec<u8>> {
    ranges.iter().map(|&(a, b)| server.file[a as usize..b as usize].to_vec()).collect()
}

fn read(source: &RemoteSource<&Server>, ranges: &[(u64, u64)]) -> Result<Vec<Vec<u8>>> {
    source.read_ranges(ranges).into_iter().collect()
}

#[test]
fn a_server_that_sends_parts_answers_many_ranges_in_one_get_after_one_head() {
    let server = Server::new(1_000_000, Multi::Parts);
    let source = ranged(&server);
    let ranges = scattered(76);
    assert_eq!(read(&source, &ranges).unwrap(), expected(&server, &ranges));
    assert_eq!((server.count("HEAD"), server.count("GET")), (1, 2), "{:?}", server.asked.borrow());
    // The HEAD asked for the same ranges as the GET that followed it.
    assert_eq!(server.asked.borrow()[1].1, server.asked.borrow()[2].1);
    assert_eq!(source.stats().requests(), 3);
    // Known to send parts now: the next listing needs no HEAD.
    let more: Vec<(u64, u64)> = scattered(5).iter().map(|&(a, b)| (a + 3_000, b + 3_000)).collect();
    assert_eq!(read(&source, &more).unwrap(), expected(&server, &more));
    assert_eq!((server.count("HEAD"), server.count("GET")), (1, 3));
}

#[test]
fn ranges_go_in_order_merged_and_in_batches_a_server_accepts() {
    let server = Server::new(3_000_000, Multi::Parts);
    let source = ranged(&server);
    // Overlapping, touching, inside the probed head, and empty ranges.
    let mut ranges = vec![(10, 20)];
    ranges.extend(scattered(250));
    ranges.splice(2..2, [(100_100, 100_700), (100_601, 100_650), (100_700, 100_900), (100_900, 100_900)]);
    assert_eq!(read(&source, &ranges).unwrap(), expected(&server, &ranges));
    let asked = server.asked.borrow();
    let gets: Vec<Vec<(u64, u64)>> = asked.iter().filter(|(m, _)| *m == "GET").skip(1).map(|(_, h)| parse(h)).collect();
    assert_eq!(gets.len(), 3, "250 ranges in requests of at most {MAX_RANGES_PER_REQUEST}");
    for (get, (_, header)) in gets.iter().zip(asked.iter().skip(2)) {
        assert!(get.len() <= MAX_RANGES_PER_REQUEST && header.len() <= MAX_RANGE_HEADER, "{header}");
        assert!(get.windows(2).all(|w| w[0].1 < w[1].0), "ascending, apart: {get:?}");
    }
    assert_eq!(gets.iter().map(Vec::len).sum::<usize>(), 250, "the overlapping and touching ones were joined");
    drop(asked);
    // Out of order: right too, one request each.
    let mut unordered: Vec<(u64, u64)> = scattered(5).iter().map(|&(a, b)| (a + 2_000_000, b + 2_000_000)).collect();
    unordered.reverse();
    let before = server.count("GET");
    assert_eq!(read(&source, &unordered).unwrap(), expected(&server, &unordered));
    assert_eq!(server.count("GET"), before + 5);
}

#[test]
fn the_header_length_limits_a_batch_too() {
    let asks: Vec<(u64, u64)> =
        (0..300).map(|i| (1_000_000_000_000 + i * 1_000, 1_000_000_000_000 + i * 1_000 + 10)).collect();
    let batches = batches(&asks);
    assert!(batches.len() >= 3, "{batches:?}");
    for batch in &batches {
        let header = format!("bytes={}", asks[batch.clone()].iter().map(spec).collect::<Vec<_>>().join(","));
        assert!(header.len() <= MAX_RANGE_HEADER && batch.len() <= MAX_RANGES_PER_REQUEST, "{}", header.len());
    }
    assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), 300);
}

#[test]
fn a_server_without_parts_is_asked_one_range_at_a_time_and_never_sends_the_whole_file() {
    for multi in [Multi::Whole, Multi::Unsatisfiable] {
        let server = Server::new(1_000_000, multi);
        let source = ranged(&server);
        let ranges = scattered(20);
        assert_eq!(read(&source, &ranges).unwrap(), expected(&server, &ranges), "{multi:?}");
        // The HEAD said no: no multi-range GET, so no whole file; then 20 single ranges.
        assert_eq!((server.count("HEAD"), server.count("GET")), (1, 21), "{multi:?}");
        assert_eq!(source.stats().bytes(), PROBE_BYTES_FOR_TESTS + 20 * 600, "{multi:?}");
        // And it is not asked again.
        assert_eq!(read(&source, &scattered(3)).unwrap(), expected(&server, &scattered(3)));
        assert_eq!(server.count("HEAD"), 1);
    }
}

const PROBE_BYTES_FOR_TESTS: u64 = crate::remote::PROBE_BYTES;

#[test]
fn a_server_that_answers_one_range_or_joins_them_is_used_as_far_as_it_goes() {
    let ranges = scattered(10);
    // Honest, its HEAD says so already: one range at a time.
    for multi in [Multi::First, Multi::Joined] {
        let server = Server::new(1_000_000, multi);
        let source = ranged(&server);
        assert_eq!(read(&source, &ranges).unwrap(), expected(&server, &ranges));
        assert_eq!((server.count("HEAD"), server.count("GET")), (1, 1 + 10), "{multi:?}");
    }
    // Its HEAD promised parts: what the GET brought is used, the rest asked for alone.
    let first = Server { lying_head: true, ..Server::new(1_000_000, Multi::First) };
    let source = ranged(&first);
    assert_eq!(read(&source, &ranges).unwrap(), expected(&first, &ranges));
    assert_eq!((first.count("HEAD"), first.count("GET")), (1, 1 + 1 + 9));
    let joined = Server { lying_head: true, ..Server::new(1_000_000, Multi::Joined) };
    let source = ranged(&joined);
    assert_eq!(read(&source, &ranges).unwrap(), expected(&joined, &ranges));
    assert_eq!((joined.count("HEAD"), joined.count("GET")), (1, 2));
    // A server that sends the whole file for the GET after all: its body is not read, the ranges come alone.
    let whole = Server { lying_head: true, ..Server::new(1_000_000, Multi::Whole) };
    let source = ranged(&whole);
    assert_eq!(read(&source, &ranges).unwrap(), expected(&whole, &ranges));
    assert_eq!(source.stats().bytes(), PROBE_BYTES_FOR_TESTS + 10 * 600);
}

#[test]
fn broken_multipart_replies_are_one_sentence_each_never_other_bytes() {
    fn wrong_boundary(body: Vec<u8>) -> Vec<u8> {
        String::from_utf8_lossy(&body).replace(BOUNDARY, "00000000043").into_bytes()
    }
    fn overlong(mut body: Vec<u8>) -> Vec<u8> {
        body.extend(std::iter::repeat_n(b'x', 64 << 10));
        body
    }
    fn cut(mut body: Vec<u8>) -> Vec<u8> {
        body.truncate(body.len() - 20); // the close delimiter and the last part's last byte
        body
    }
    let cases: [(Multi, &str); 6] = [
        (
            Multi::Bent(wrong_boundary),
            "The server sent a multipart reply whose parts are not marked by its boundary for model.npz.",
        ),
        (Multi::Bent(overlong), "The server sent a multipart reply longer than the ranges asked for for model.npz."),
        (Multi::Bent(cut), "The server sent a multipart reply cut short for model.npz."),
        (Multi::MissingLast, "The server sent a multipart reply without some of the ranges asked for for model.npz."),
        (Multi::Shifted, "The server sent other bytes than the ones asked for for model.npz."),
        (Multi::OtherEtag, "The file model.npz changed on the server while it was being read; open it again."),
    ];
    for (multi, sentence) in cases {
        let server = Server::new(1_000_000, multi);
        let source = ranged(&server);
        let results = source.read_ranges(&scattered(8));
        assert_eq!(results.len(), 8);
        for result in results {
            assert_eq!(result.unwrap_err().to_string(), sentence, "{multi:?}");
        }
    }
}

#[test]
fn parts_that_overlap_or_hold_a_partial_range_are_refused() {
    let server = Server::new(1_000_000, Multi::Parts);
    let source = ranged(&server);
    let asks = [(100_000, 100_010), (200_000, 200_010), (300_000, 300_010)];
    let part = |first: u64, last: u64| Part {
        range: crate::remote::ContentRange { first, last, total: Some(1_000_000) },
        bytes: &server.file[first as usize..=last as usize],
    };
    let joined = place(&source, &asks, &[part(100_000, 200_009), part(300_000, 300_009)]).unwrap();
    assert!(joined.iter().all(Option::is_some));
    let overlapping = place(&source, &asks, &[part(100_000, 200_009), part(200_000, 200_009)]).unwrap_err();
    assert_eq!(overlapping.to_string(), "The server sent overlapping parts in its multipart reply for model.npz.");
    for (first, last) in [(100_001, 100_009), (100_000, 100_008), (150_000, 200_009), (300_000, 300_010)] {
        assert!(place(&source, &asks, &[part(first, last.min(999_999))]).is_err(), "{first}-{last}");
    }
    let other_size = Part {
        range: crate::remote::ContentRange { total: Some(7), ..part(100_000, 100_009).range },
        ..part(100_000, 100_009)
    };
    assert!(place(&source, &asks, &[other_size]).unwrap_err().to_string().contains("changed on the server"));
}

#[test]
fn ranges_held_or_out_of_the_file_ask_for_nothing() {
    let server = Server::new(1_000_000, Multi::Parts);
    let source = ranged(&server);
    let results = source.read_ranges(&[(10, 20), (999_990, 1_000_001), (30, 10), (40, 40)]);
    assert_eq!(results[0].as_ref().unwrap(), &server.file[10..20]);
    assert!(matches!(results[1], Err(Error::Truncated(_))));
    assert!(matches!(results[2], Err(Error::Read(_))));
    assert_eq!(results[3].as_ref().unwrap(), &Vec::<u8>::new());
    assert_eq!(server.asked.borrow().len(), 1, "the probe only");
}

/// From a server that answers several ranges with the whole file, the ranges asked alone are sent together (one
/// `get_each`), and `ranges_asked_alone` names exactly those requests beforehand — its HEAD is the only one, a
/// range starting inside the kept head asks only for the rest — so a browser can fetch them first.
#[test]
fn ranges_asked_alone_are_the_requests_read_ranges_sends_together() {
    let server = Server::new(1_000_000, Multi::Whole);
    let source = ranged(&server);
    let mut ranges = vec![(60_000, 70_000)];
    ranges.extend(scattered(8));
    ranges.push((149_600, 149_610)); // touches the last: merged with it
    let plan = source.ranges_asked_alone(&ranges);
    assert_eq!(server.count("HEAD"), 1);
    assert_eq!(plan.len(), 9, "{plan:?}");
    assert_eq!(plan[0], (65_536, 69_999), "only what the probe did not bring");
    assert_eq!(plan[8], (149_000, 149_609), "the touching ranges asked as one");
    let requests = source.stats().requests();
    assert_eq!(read(&source, &ranges).unwrap(), expected(&server, &ranges));
    assert_eq!(*server.together.borrow(), vec![9], "one get_each of every ask");
    assert_eq!(server.count("HEAD"), 1, "no second HEAD");
    let gets: Vec<String> = server.asked.borrow().iter().skip(2).map(|(_, r)| r.clone()).collect();
    let planned: Vec<String> = plan.iter().map(|&(a, b)| format!("bytes={a}-{b}")).collect();
    assert_eq!(gets, planned, "the plan is what was asked");
    assert_eq!(source.stats().requests(), requests + 9, "each reply counted");
    assert_eq!(source.ranges_asked_alone(&ranges), vec![], "now kept: nothing to ask");

    // A server that sends parts: nothing is asked alone, and the listing takes its multi-range GET.
    let server = Server::new(1_000_000, Multi::Parts);
    let source = ranged(&server);
    assert_eq!(source.ranges_asked_alone(&scattered(8)), vec![]);
    assert_eq!(read(&source, &scattered(8)).unwrap(), expected(&server, &scattered(8)));
    assert_eq!((server.count("HEAD"), server.count("GET"), server.together.borrow().len()), (1, 2, 0));
}
