//! Natural order for tensor names: `encoderblock_2` before `encoderblock_10`, `blocks.9` before
//! `blocks.10`. Listings are shown in this order; `Checkpoint::tensors()` stays in file order.

use std::cmp::Ordering;

/// Compares two names with runs of ASCII digits taken as numbers (any length, no overflow) and every
/// other character by code point; names equal that way (`a01`, `a1`) fall back to plain string order,
/// so this is a total order consistent with `==`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut left, mut right) = (a.as_bytes(), b.as_bytes());
    loop {
        match (left.first(), right.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (x_run, x_rest) = split_digits(left);
                let (y_run, y_rest) = split_digits(right);
                let by_value = compare_digit_runs(x_run, y_run);
                if by_value != Ordering::Equal {
                    return by_value;
                }
                (left, right) = (x_rest, y_rest);
            }
            // Byte order of UTF-8 is code point order, and a digit never shares a byte with a multi-byte char.
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            (Some(_), Some(_)) => (left, right) = (&left[1..], &right[1..]),
        }
    }
}

/// The leading run of ASCII digits, and what follows it.
fn split_digits(text: &[u8]) -> (&[u8], &[u8]) {
    let end = text.iter().position(|c| !c.is_ascii_digit()).unwrap_or(text.len());
    text.split_at(end)
}

/// Two digit runs by numeric value: without leading zeros, the longer is larger; equal lengths compare as text.
fn compare_digit_runs(x: &[u8], y: &[u8]) -> Ordering {
    let (x, y) = (without_leading_zeros(x), without_leading_zeros(y));
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

fn without_leading_zeros(run: &[u8]) -> &[u8] {
    let zeros = run.iter().take_while(|&&c| c == b'0').count();
    &run[zeros..]
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;
    use std::cmp::Ordering::{Equal, Greater, Less};

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        names.sort_by(|a, b| natural_cmp(a, b));
        names
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(natural_cmp("encoderblock_2", "encoderblock_10"), Less);
        assert_eq!(natural_cmp("a.9.b", "a.10.a"), Less);
        assert_eq!(natural_cmp("blocks.11.attn", "blocks.2.mlp"), Greater);
        assert_eq!(
            sorted(&["encoderblock_10", "encoderblock_1", "encoderblock_2", "encoderblock_0"]),
            ["encoderblock_0", "encoderblock_1", "encoderblock_2", "encoderblock_10"]
        );
    }

    #[test]
    fn leading_zeros_tie_on_value_then_fall_back_to_string_order() {
        assert_eq!(natural_cmp("a007", "a7"), Less, "'0' < '7' in plain order");
        assert_eq!(natural_cmp("a7", "a007"), Greater);
        assert_eq!(natural_cmp("a007b", "a8"), Less, "7 < 8 decides before the tie-break");
        assert_eq!(natural_cmp("a00", "a0"), Greater, "the longer string after a tie");
        assert_eq!(natural_cmp("x01y2", "x1y10"), Less);
    }

    #[test]
    fn digit_runs_of_any_length_never_overflow() {
        let big = format!("t{}", "9".repeat(500));
        let bigger = format!("t1{}", "0".repeat(500));
        assert_eq!(natural_cmp(&big, &bigger), Less);
        assert_eq!(natural_cmp(&format!("t{}1", "0".repeat(600)), "t2"), Less);
        assert_eq!(natural_cmp(&big, &big), Equal);
    }

    #[test]
    fn empty_and_prefixes() {
        assert_eq!(natural_cmp("", ""), Equal);
        assert_eq!(natural_cmp("", "a"), Less);
        assert_eq!(natural_cmp("a", ""), Greater);
        assert_eq!(natural_cmp("layer", "layer1"), Less);
        assert_eq!(natural_cmp("layer1", "layer1.weight"), Less);
    }

    #[test]
    fn other_characters_by_code_point_including_unicode() {
        assert_eq!(natural_cmp("a/b", "a.b"), Greater, "'/' > '.'");
        assert_eq!(natural_cmp("B", "a"), Less, "upper case first, as in plain order");
        assert_eq!(natural_cmp("é2", "é10"), Less);
        assert_eq!(natural_cmp("z", "é"), Less);
        assert_eq!(natural_cmp("层10", "层9"), Greater);
        // Non-ASCII digits are ordinary characters.
        assert_eq!(natural_cmp("a٣", "a10"), Greater);
        // Characters below '0' sort before a number, above '9' after it.
        assert_eq!(natural_cmp("a-", "a5"), Less);
        assert_eq!(natural_cmp("a_", "a5"), Greater);
    }

    #[test]
    fn is_a_total_order_consistent_with_equality() {
        let names = [
            "", "0", "00", "1", "01", "10", "9", "a", "a0", "a00", "a1", "a01", "a10", "a9b", "a09c", "a9", "a-1",
            "a_1", "a.1", "a/1", "b", "é", "é1", "Z", "z2", "z10", "z010",
        ];
        for a in names {
            assert_eq!(natural_cmp(a, a), Equal);
            for b in names {
                assert_eq!(natural_cmp(a, b), natural_cmp(b, a).reverse(), "{a:?} {b:?}");
                assert_eq!(natural_cmp(a, b) == Equal, a == b, "{a:?} {b:?}");
                for c in names {
                    if natural_cmp(a, b) == Less && natural_cmp(b, c) == Less {
                        assert_eq!(natural_cmp(a, c), Less, "{a:?} < {b:?} < {c:?}");
                    }
                }
            }
        }
    }
}
