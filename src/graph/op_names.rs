//! The graph's op-name registry: TF's `unique_name` counters (case-insensitive) and
//! the set of op names, striped by name family so that threads creating different
//! names never share a lock.
//!
//! A *family* is a case-folded name with every trailing `_<digits>` group removed:
//! `Dense`, `dense_1` and `dense_1_2` are all family `dense`. Everything one
//! `unique_name` call reads or writes — the name, and the `name_<i>` candidates it
//! tries — is in one family, so the call takes exactly one stripe lock and stays
//! atomic, as TF's (single-threaded) registry is.

use crate::slot_map::Key;
use crate::sync::Mutex;
use crossbeam_utils::CachePadded;
use hashbrown::{Equivalent, HashMap};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Hashes `s` case-folded (ASCII), word by word, so that a stored lowercase key and a
/// query of any case hash the same without building a lowercase copy.
fn hash_folded<H: Hasher>(s: &str, state: &mut H) {
    for chunk in s.as_bytes().chunks(8) {
        let mut w = [0u8; 8];
        for (d, b) in w.iter_mut().zip(chunk) {
            *d = b.to_ascii_lowercase();
        }
        state.write_u64(u64::from_le_bytes(w));
    }
    state.write_usize(s.len());
}

/// A stored `unique_name` key: a lowercase name.
#[derive(Clone, PartialEq, Eq)]
struct Folded(Key);

impl Hash for Folded {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_folded(&self.0, state);
    }
}

/// A query for a [`Folded`] key in any case.
struct AnyCase<'a>(&'a str);

impl Hash for AnyCase<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_folded(self.0, state);
    }
}

impl Equivalent<Folded> for AnyCase<'_> {
    fn equivalent(&self, key: &Folded) -> bool {
        key.0.eq_ignore_ascii_case(self.0)
    }
}

/// The type of a registered op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpType {
    /// A variable (`VariableV2`).
    Variable,
    /// Any other op type.
    Other(Key),
}

impl OpType {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            OpType::Variable => "VariableV2",
            OpType::Other(t) => t,
        }
    }
}

#[derive(Default)]
struct Stripe {
    /// TF's `_names_in_use`: lowercase name → count.
    in_use: HashMap<Folded, u64, rustc_hash::FxBuildHasher>,
    /// Exact op names → (creation sequence number, type).
    ops: HashMap<Key, (u64, OpType), rustc_hash::FxBuildHasher>,
    /// Scratch space for candidate names (reused, so probing allocates nothing).
    scratch: String,
}

/// A registry of op names, striped by name family.
pub(crate) struct OpNames {
    stripes: Box<[CachePadded<Mutex<Stripe>>]>,
    seq: AtomicU64,
}

/// The length of `s` without its trailing `_<digits>` groups.
fn family_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut end = b.len();
    loop {
        let digits = b[..end]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 || end < digits + 2 || b[end - digits - 1] != b'_' {
            return end;
        }
        end -= digits + 1;
    }
}

/// Lowercase, only when `name` is not ASCII (ASCII names are folded while hashing).
fn unicode_folded(name: &str) -> Cow<'_, str> {
    if name.is_ascii() {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(name.to_lowercase())
    }
}

impl OpNames {
    pub(crate) fn with_stripes(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        OpNames {
            stripes: (0..n).map(|_| CachePadded::new(Mutex::default())).collect(),
            seq: AtomicU64::new(0),
        }
    }

    fn stripe(&self, folded: &str) -> &Mutex<Stripe> {
        let mut h = rustc_hash::FxBuildHasher.build_hasher();
        hash_folded(&folded[..family_len(folded)], &mut h);
        let bits = self.stripes.len().trailing_zeros();
        let i = if bits == 0 {
            0
        } else {
            (h.finish() >> (64 - bits)) as usize
        };
        &self.stripes[i]
    }

    /// TF's `unique_name(name, mark_as_used)` for an absolute `name`: `name` itself
    /// the first time, then `name_1`, `name_2`, … skipping names in use, compared
    /// case-insensitively.
    pub(crate) fn unique(&self, name: &str, mark: bool) -> String {
        let folded = unicode_folded(name);
        let mut st = self.stripe(&folded).lock();
        match probe(&mut st, &folded, mark, None) {
            None => name.to_string(),
            Some(i) => format!("{name}_{i}"),
        }
    }

    /// `unique(name, true)`, then registers an op under the resulting name — both
    /// under one stripe lock. `stored` is a shared copy of `name`, used as the op name
    /// (and as the counter key, when lowercase) instead of a new allocation. `Err`
    /// with the name when another op has it already (only an absolute name can).
    pub(crate) fn unique_and_register(
        &self,
        name: &str,
        stored: Option<&Key>,
        op: OpType,
    ) -> Result<Key, Key> {
        let folded = unicode_folded(name);
        let mut guard = self.stripe(&folded).lock();
        let st = &mut *guard;
        let full = match probe(st, &folded, true, stored) {
            None => match stored {
                Some(k) if k.as_ref() == name => k.clone(),
                _ => Key::from(name),
            },
            Some(i) => Key::from(format!("{name}_{i}")),
        };
        if st.ops.contains_key(full.as_ref()) {
            return Err(full);
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        st.ops.insert(full.clone(), (seq, op));
        Ok(full)
    }

    /// Registers an op under an exact name. `false` when the name is taken.
    pub(crate) fn register(&self, name: Key, op: OpType) -> bool {
        let folded = unicode_folded(&name).into_owned();
        let mut st = self.stripe(&folded).lock();
        if st.ops.contains_key(name.as_ref()) {
            return false;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        st.ops.insert(name, (seq, op));
        true
    }

    /// Whether an op of this exact name exists.
    pub(crate) fn contains(&self, name: &str) -> bool {
        let folded = unicode_folded(name);
        self.stripe(&folded).lock().ops.contains_key(name)
    }

    /// Every op, in registration order.
    pub(crate) fn ops(&self) -> Vec<(Key, OpType)> {
        let mut all: Vec<(u64, Key, OpType)> = Vec::new();
        for s in self.stripes.iter() {
            let s = s.lock();
            all.extend(
                s.ops
                    .iter()
                    .map(|(k, (seq, t))| (*seq, k.clone(), t.clone())),
            );
        }
        all.sort_unstable_by_key(|r| r.0);
        all.into_iter().map(|(_, k, t)| (k, t)).collect()
    }
}

fn has_upper(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_uppercase())
}

/// The core of TF's `unique_name` on one stripe: `None` when `folded` itself is free
/// (or was: `mark` counts a use either way), `Some(i)` when the name is `name_i`.
fn probe(st: &mut Stripe, folded: &str, mark: bool, stored: Option<&Key>) -> Option<u64> {
    let count = match st.in_use.get_mut(&AnyCase(folded)) {
        Some(c) => {
            let n = *c;
            if mark {
                *c += 1;
            }
            n
        }
        None => {
            if mark {
                let key = match stored {
                    Some(k) if k.as_ref() == folded && !has_upper(k) => k.clone(),
                    _ => Key::from(folded.to_ascii_lowercase()),
                };
                st.in_use.insert(Folded(key), 1);
            }
            0
        }
    };
    if count == 0 {
        return None;
    }
    let mut i = count;
    loop {
        st.scratch.clear();
        st.scratch.push_str(folded);
        let _ = write!(st.scratch, "_{i}");
        if !st.in_use.contains_key(&AnyCase(&st.scratch)) {
            break;
        }
        i += 1;
    }
    if mark {
        let key = Key::from(st.scratch.to_ascii_lowercase());
        st.in_use.insert(Folded(key), 1);
    }
    Some(i)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn families_strip_numeric_suffixes() {
        assert_eq!(family_len("dense"), 5);
        assert_eq!(family_len("dense_1"), 5);
        assert_eq!(family_len("dense_1_12"), 5);
        assert_eq!(family_len("dense_"), 6);
        assert_eq!(family_len("_1"), 2);
        assert_eq!(family_len("a_b1"), 4);
        assert_eq!(family_len("x__3"), 2);
    }

    #[test]
    fn unique_names_follow_tf() {
        let r = OpNames::with_stripes(4);
        assert_eq!(r.unique("foo", true), "foo");
        assert_eq!(r.unique("FOO", true), "FOO_1");
        assert_eq!(r.unique("foo_1", true), "foo_1_1");
        assert_eq!(r.unique("foo", true), "foo_2");
        assert_eq!(r.unique("bar", false), "bar");
        assert_eq!(r.unique("bar", false), "bar");
        let k = Key::from("v");
        assert_eq!(
            r.unique_and_register("v", Some(&k), OpType::Variable)
                .unwrap(),
            k
        );
        assert_eq!(
            &*r.unique_and_register("v", None, OpType::Variable).unwrap(),
            "v_1"
        );
        assert!(r.contains("v") && r.contains("v_1") && !r.contains("V"));
        assert!(!r.register(Key::from("v"), OpType::Variable));
    }
}
