//! One sort for the whole crate. The standard library's sorts are generic over the element and the comparison,
//! so each of the crate's two dozen call sites compiled its own copy of driftsort or quicksort: 167 KB of the
//! wasm module (15 % of it) was sorting code. Here one non-generic merge sort orders indices through a `dyn`
//! comparison, and only the few lines that move the elements are generic. It is stable, O(n log n), and the
//! crate sorts at most a few thousand items at a time (tensor names, shards, filter norms).

use std::cmp::Ordering;

/// Sorts `items` by `compare`, keeping equal items in their order (like `slice::sort_by`).
pub fn sort_by<T>(items: &mut Vec<T>, mut compare: impl FnMut(&T, &T) -> Ordering) {
    let order = {
        let view: &[T] = items;
        sorted_indices(view.len(), &mut |a, b| compare(&view[a], &view[b]))
    };
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.iter().filter_map(|&i| slots.get_mut(i).and_then(Option::take)));
}

/// Sorts `items` by a key, stable (like `slice::sort_by_key`).
pub fn sort_by_key<T, K: Ord>(items: &mut Vec<T>, mut key: impl FnMut(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `items` in their natural order, stable (like `slice::sort`).
pub fn sort<T: Ord>(items: &mut Vec<T>) {
    sort_by(items, T::cmp);
}

/// The indices `0..len` in the order `compare` gives them, equal ones in index order: a bottom-up merge sort.
fn sorted_indices(len: usize, compare: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut merged = vec![0; len];
    let mut width = 1;
    while width < len {
        for start in (0..len).step_by(2 * width) {
            let middle = (start + width).min(len);
            let end = (start + 2 * width).min(len);
            let (mut left, mut right) = (start, middle);
            for slot in &mut merged[start..end] {
                // Take from the left run unless the right one's head is strictly smaller: stable.
                let take_left = right >= end || (left < middle && compare(order[right], order[left]) != Ordering::Less);
                if take_left {
                    *slot = order[left];
                    left += 1;
                } else {
                    *slot = order[right];
                    right += 1;
                }
            }
        }
        std::mem::swap(&mut order, &mut merged);
        width *= 2;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_library_and_keeps_equal_items_in_order() {
        // Pairs sorted by their first half only: the second half shows the stability.
        let mut state = 7u64;
        for len in [0, 1, 2, 3, 5, 8, 13, 100, 1000] {
            let items: Vec<(u8, usize)> = (0..len)
                .map(|i| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    ((state >> 60) as u8, i)
                })
                .collect();
            let mut want = items.clone();
            want.sort_by_key(|p| p.0);
            let mut got = items.clone();
            sort_by_key(&mut got, |p| p.0);
            assert_eq!(got, want, "{len} items");
            let mut whole = items;
            sort(&mut whole);
            let mut want_whole = want;
            want_whole.sort();
            assert_eq!(whole, want_whole);
        }
    }
}
