//! Telling apart the distinct items of a byte list, fast: the table behind
//! count-by-value's counts, and [`Groups`], the records of a batch grouped
//! by key for reduce-by-key and update-state-by-key.
//!
//! Each entry holds its item's first 16 bytes and length beside what the
//! caller keeps per distinct item (a count, a group): most items grouped
//! are words or short keys, which then hash, compare and update with one
//! random memory access per record (the entry), not three (the entry, the
//! item's bytes, what is kept for it). Longer items compare the rest of
//! their bytes too.

use std::hash::Hasher;

use hashbrown::{HashTable, hash_table};
use rustc_hash::FxHasher;

use crate::record::ByteList;

/// The distinct items of one list seen so far, each with a `T`.
pub(crate) struct Distinct<'a, T> {
    list: &'a ByteList,
    table: HashTable<Entry<T>>,
}

struct Entry<T> {
    /// The item's first 16 bytes, zero past its end.
    head: u128,
    /// The item's length, or [`ABSENT`].
    len: u32,
    /// The index of the item where these bytes came first.
    first: u32,
    kept: T,
}

/// The length of an absent item (a record without a key), told apart from
/// an empty one.
const ABSENT: u32 = u32::MAX;

impl<'a, T> Distinct<'a, T> {
    pub(crate) fn new(list: &'a ByteList) -> Self {
        // Most batches repeat their items: start small, grow as needed.
        let guess = list.len().min(1 << 12);
        Distinct {
            list,
            table: HashTable::with_capacity(guess),
        }
    }

    /// How many distinct items there are.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// What is kept for item `i`'s bytes (or for absent items, when
    /// `absent`), made by `new` when these bytes come first.
    pub(crate) fn entry(&mut self, i: usize, absent: bool, new: impl FnOnce() -> T) -> &mut T {
        let list = self.list;
        let start = match i {
            0 => 0,
            _ => list.ends[i - 1] as usize,
        };
        let bytes = &list.data[start..list.ends[i] as usize];
        let (head, len) = match absent {
            true => (0, ABSENT),
            false => (head(&list.data, start, bytes), bytes.len() as u32),
        };
        let same = |entry: &Entry<T>| {
            entry.head == head
                && entry.len == len
                && (len <= 16
                    || len == ABSENT
                    || list.get(entry.first as usize)[16..] == bytes[16..])
        };
        let hashed = hash(head, len, bytes);
        let rehash = |e: &Entry<T>| hash(e.head, e.len, list.get(e.first as usize));
        let entry = match self.table.entry(hashed, same, rehash) {
            hash_table::Entry::Occupied(entry) => entry,
            hash_table::Entry::Vacant(slot) => slot.insert(Entry {
                head,
                len,
                first: i as u32,
                kept: new(),
            }),
        };
        &mut entry.into_mut().kept
    }

    /// Each distinct item as the index where it came first, with what was
    /// kept for it, in order of first appearance.
    pub(crate) fn into_firsts(self) -> Vec<(usize, T)> {
        let mut firsts: Vec<(usize, T)> = self
            .table
            .into_iter()
            .map(|e| (e.first as usize, e.kept))
            .collect();
        firsts.sort_unstable_by_key(|(first, _)| *first);
        firsts
    }
}

/// The items of a list grouped by their bytes, groups in order of first
/// appearance, items in list order within a group.
pub(crate) struct Groups {
    /// Each group's first item.
    pub(crate) firsts: Vec<usize>,
    /// Where each group's items end in `order`.
    pub(crate) ends: Vec<u32>,
    /// The items, group after group.
    pub(crate) order: Vec<u32>,
}

impl Groups {
    /// Groups the items of `list`, items for which `absent` holds in a
    /// group of their own (records without a key, apart from an empty one).
    pub(crate) fn of(list: &ByteList, absent: impl Fn(usize) -> bool) -> Groups {
        // Each item's group, numbered in order of first appearance, and
        // each group's size; then a counting sort.
        let mut distinct: Distinct<(u32, u32)> = Distinct::new(list);
        let mut group_of = Vec::with_capacity(list.len());
        for i in 0..list.len() {
            let next = distinct.len() as u32;
            let (number, size) = distinct.entry(i, absent(i), || (next, 0));
            *size += 1;
            group_of.push(*number);
        }
        let groups = distinct.into_firsts();
        let mut firsts = Vec::with_capacity(groups.len());
        let mut ends = Vec::with_capacity(groups.len());
        let mut next_slot = Vec::with_capacity(groups.len());
        let mut end = 0;
        for (first, (_, size)) in groups {
            firsts.push(first);
            next_slot.push(end);
            end += size;
            ends.push(end);
        }
        let mut order = vec![0u32; list.len()];
        for (i, group) in group_of.into_iter().enumerate() {
            let slot = &mut next_slot[group as usize];
            order[*slot as usize] = i as u32;
            *slot += 1;
        }
        Groups {
            firsts,
            ends,
            order,
        }
    }

    /// How many groups there are.
    pub(crate) fn len(&self) -> usize {
        self.firsts.len()
    }

    /// The items of group `g`, in list order.
    pub(crate) fn members(&self, g: usize) -> &[u32] {
        let start = match g {
            0 => 0,
            _ => self.ends[g - 1] as usize,
        };
        &self.order[start..self.ends[g] as usize]
    }
}

/// The first 16 bytes of `bytes`, which start at `start` in `data`, zero
/// past their end: read as one block where `data` has 16 bytes from
/// there, with what follows the item masked off.
fn head(data: &[u8], start: usize, bytes: &[u8]) -> u128 {
    match data.get(start..start + 16) {
        Some(block) => {
            let block = u128::from_le_bytes(block.try_into().expect("16 bytes"));
            match bytes.len() {
                16.. => block,
                n => block & ((1u128 << (8 * n)) - 1),
            }
        }
        None => {
            let mut block = [0u8; 16];
            let n = bytes.len().min(16);
            block[..n].copy_from_slice(&bytes[..n]);
            u128::from_le_bytes(block)
        }
    }
}

fn hash(head: u128, len: u32, bytes: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write_u128(head);
    hasher.write_u32(len);
    if len != ABSENT
        && let Some(rest) = bytes.get(16..)
    {
        hasher.write(rest);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each item's group: the index where its bytes came first.
    fn groups(items: &[Option<&[u8]>]) -> Vec<usize> {
        let mut list = ByteList::with_capacity(items.len(), 0);
        for item in items {
            list.push(item.unwrap_or_default());
        }
        let mut distinct = Distinct::new(&list);
        let mut group = Vec::new();
        for (i, item) in items.iter().enumerate() {
            group.push(*distinct.entry(i, item.is_none(), || i));
        }
        let firsts: Vec<usize> = distinct.into_firsts().into_iter().map(|(f, _)| f).collect();
        let mut expected_firsts = group.clone();
        expected_firsts.dedup();
        expected_firsts.sort();
        expected_firsts.dedup();
        assert_eq!(firsts, expected_firsts, "in order of first appearance");
        group
    }

    #[test]
    fn items_are_told_apart_by_every_byte_and_by_absence() {
        let long: &[u8] = b"an item of more than sixteen bytes";
        let longer: &[u8] = b"an item of more than sixteen bytes!";
        let other: &[u8] = b"an item of more than sixteen byteZ";
        let sixteen: &[u8] = b"0123456789abcdef";
        // Short items near the list's end have no 16-byte block after them.
        let items = [
            Some(long),
            Some(sixteen),
            None,
            Some(&b""[..]),
            Some(longer),
            Some(other),
            Some(long),
            None,
            Some(&b""[..]),
            Some(sixteen),
            Some(&b"\xffz"[..]),
            Some(&b"\xff"[..]),
            Some(&b"\xffz"[..]),
        ];
        assert_eq!(groups(&items), [0, 1, 2, 3, 4, 5, 0, 2, 3, 1, 10, 11, 10]);
    }

    #[test]
    fn groups_take_their_items_in_list_order() {
        let mut list = ByteList::with_capacity(0, 0);
        for item in ["b", "a", "b", "", "a", "b", ""] {
            list.push(item.as_bytes());
        }
        let groups = Groups::of(&list, |i| i == 6);
        assert_eq!(groups.firsts, [0, 1, 3, 6]);
        let members: Vec<&[u32]> = (0..groups.len()).map(|g| groups.members(g)).collect();
        assert_eq!(members, [&[0, 2, 5][..], &[1, 4], &[3], &[6]]);
    }

    #[test]
    fn many_distinct_items_keep_their_groups_as_the_table_grows() {
        let words: Vec<Vec<u8>> = (0..20_000)
            .map(|n| format!("w{}", n % 7_000).into_bytes())
            .collect();
        let items: Vec<Option<&[u8]>> = words.iter().map(|w| Some(w.as_slice())).collect();
        let group = groups(&items);
        for (i, g) in group.iter().enumerate() {
            assert_eq!(*g, i % 7_000, "item {i}");
        }
    }
}
