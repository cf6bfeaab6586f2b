//! The graph's op-name registry: TF's `unique_name` counters (case-insensitive) and
//! the set of op names, striped by name family so that threads creating different
//! names never share a lock.
//!
//! A *family* is a case-folded name with every trailing `_<digits>` group removed:
//! `Dense`, `dense_1` and `dense_1_2` are all family `dense`. Everything one
//! `unique_name` call reads or writes — the name, and the `name_<i>` candidates it
//! tries — is in one family, so the call takes exactly one stripe lock and stays
//! atomic, as TF's (single-threaded) registry is.
//!
//! Each stripe is one hash table keyed by the case-folded name, holding both TF's
//! `_names_in_use` count and the ops of that name (exact case), so naming and
//! registering a new op costs one probe.
//!
//! The names `unique_name` marks used while numbering (`a_1`, `a_2`, … for a name
//! scope `a` opened again and again) are not stored one by one: each numbered base
//! keeps a [`Run`], and `{base}_{i}` for `1 <= i <= run.probed` counts as used once
//! unless it has an entry of its own. Re-entering a scope then adds no entry for the
//! numbered name, and numbering the next one reads no table slot when no name of
//! that form was ever given explicitly (`run.max_explicit`).

use crate::slot_map::Key;
use crate::sync::Mutex;
use crossbeam_utils::CachePadded;
use hashbrown::hash_table::{Entry, HashTable};
use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Hashes `s` case-folded (ASCII), word by word, so that a stored lowercase key and a
/// query of any case hash the same without building a lowercase copy.
fn hash_folded(s: &str) -> u64 {
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    for chunk in s.as_bytes().chunks(8) {
        let mut w = [0u8; 8];
        for (d, b) in w.iter_mut().zip(chunk) {
            *d = b.to_ascii_lowercase();
        }
        h.write_u64(u64::from_le_bytes(w));
    }
    h.write_usize(s.len());
    h.finish()
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

/// An op registered under a name (in a stripe's list of case variants).
#[derive(Clone)]
struct OpRec {
    /// The exact op name.
    name: Key,
    /// Registration order, graph-wide.
    seq: u64,
    ty: u32,
}

/// `NameEntry::ty` of a name without ops.
const NO_OP: u32 = u32::MAX;
/// `NameEntry::ty` of a name with ops in several cases (listed in `Stripe::variants`).
const MANY: u32 = u32::MAX - 1;

/// Everything the registry knows about one case-folded name: TF's `_names_in_use`
/// count and the name's op. Almost every name has at most one op, whose exact
/// spelling is then `key`.
struct NameEntry {
    /// The name, matched case-insensitively: the exact name of its op, if any.
    key: Key,
    /// TF's `_names_in_use` count (`0`: only registered as an op's absolute name).
    count: u64,
    /// Registration order of the op, graph-wide.
    seq: u64,
    /// The op's type: `0` a variable, `1 +` an index into the stripe's interned
    /// types; or [`NO_OP`] or [`MANY`].
    ty: u32,
    /// The key's hash ([`key_hash`]), kept in what would be padding, so that growing
    /// the table and rejecting other names never reads a key.
    hash: u32,
}

/// The table hash of a folded name: 32 bits, spread over the word hashbrown splits
/// into a position (low bits) and a tag (top seven bits).
fn key_hash(folded: &str) -> u32 {
    key_hash_of(hash_folded(folded))
}

/// [`key_hash`] from the [`hash_folded`] of the name.
fn key_hash_of(folded_hash: u64) -> u32 {
    // Fx leaves its well-mixed bits in the low half of `finish`; a multiply carries
    // them into the high half, which is kept.
    (folded_hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

fn spread(h: u32) -> u64 {
    (u64::from(h) << 32) | u64::from(h)
}

/// A row of a table keyed by a case-folded name with its [`key_hash`]: the names
/// table and the runs table.
trait Folded {
    fn name(&self) -> &str;
    fn hash(&self) -> u32;
}

/// The row of `folded`, if any.
fn find_folded<'t, T: Folded>(table: &'t HashTable<T>, folded: &str) -> Option<&'t T> {
    let h = key_hash(folded);
    table.find(spread(h), |r| {
        r.hash() == h && r.name().eq_ignore_ascii_case(folded)
    })
}

/// The row of `folded`, inserted as `make(hash)` when missing.
fn find_or_insert_folded<'t, T: Folded>(
    table: &'t mut HashTable<T>,
    folded: &str,
    make: impl FnOnce(u32) -> T,
) -> &'t mut T {
    find_or_insert_hashed(table, folded, key_hash(folded), make)
}

/// [`find_or_insert_folded`] with `h`, the [`key_hash`] of `folded`.
fn find_or_insert_hashed<'t, T: Folded>(
    table: &'t mut HashTable<T>,
    folded: &str,
    h: u32,
    make: impl FnOnce(u32) -> T,
) -> &'t mut T {
    debug_assert_eq!(h, key_hash(folded));
    match table.entry(
        spread(h),
        |r| r.hash() == h && r.name().eq_ignore_ascii_case(folded),
        |r| spread(r.hash()),
    ) {
        Entry::Occupied(o) => o.into_mut(),
        Entry::Vacant(v) => v.insert(make(h)).into_mut(),
    }
}

impl Folded for NameEntry {
    fn name(&self) -> &str {
        &self.key
    }
    fn hash(&self) -> u32 {
        self.hash
    }
}

#[derive(Default)]
struct Stripe {
    table: HashTable<NameEntry>,
    /// Interned op types other than variables.
    types: Vec<Key>,
    /// The ops of names registered in more than one case (`Conv` and `conv`), by
    /// their entry's key.
    variants: Vec<(Key, Vec<OpRec>)>,
    /// Scratch space for candidate names (reused, so probing allocates nothing).
    scratch: String,
    /// Scratch space for a numbered name as spelled (`{name}_{i}`, any case).
    spelled: String,
    /// The numbered names of each base, by the base's case-folded name.
    runs: HashTable<Run>,
}

/// The numbered names `{base}_{i}` of one base (see the module docs).
struct Run {
    /// The base, case-folded.
    base: Key,
    hash: u32,
    /// `{base}_{1..=probed}` are all in use (implicitly, where they have no entry).
    probed: u64,
    /// The largest `i` with an entry of its own for `{base}_{i}` (0: none).
    max_explicit: u64,
}

/// `name` split as `{base}_{i}`, with `i >= 1` written canonically (no leading
/// zero): the form numbering produces.
fn split_numbered(name: &str) -> Option<(&str, u64)> {
    // Most names end in a letter: no search then.
    if !name.as_bytes().last()?.is_ascii_digit() {
        return None;
    }
    let p = name.bytes().rposition(|b| b == b'_')?;
    // Not empty: the name ends in a digit.
    let digits = &name[p + 1..];
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&name[..p], digits.parse().ok()?))
}

impl Folded for Run {
    fn name(&self) -> &str {
        &self.base
    }
    fn hash(&self) -> u32 {
        self.hash
    }
}

/// The run of `base`: `(probed, max_explicit)`, zeros when it has none.
fn run_state(runs: &HashTable<Run>, base: &str) -> (u64, u64) {
    find_folded(runs, base).map_or((0, 0), |r| (r.probed, r.max_explicit))
}

fn run_mut<'r>(runs: &'r mut HashTable<Run>, base: &str) -> &'r mut Run {
    find_or_insert_folded(runs, base, |hash| Run {
        base: Key::from(base),
        hash,
        probed: 0,
        max_explicit: 0,
    })
}

/// Whether `folded` is in use only implicitly, as a number of its base's run.
fn implicitly_used(runs: &HashTable<Run>, folded: &str) -> bool {
    split_numbered(folded)
        .is_some_and(|(base, i)| find_folded(runs, base).is_some_and(|r| i <= r.probed))
}

impl Stripe {
    /// The entry of `folded`, inserted (count 0, no op) when missing. `stored` is a
    /// shared copy of the name (any case) to use as the key instead of a new one.
    fn find(&self, folded: &str) -> Option<&NameEntry> {
        find_folded(&self.table, folded)
    }

    /// Whether `folded` is in TF's `_names_in_use`.
    fn in_use(&self, folded: &str) -> bool {
        self.count(folded) > 0
    }

    /// TF's `_names_in_use` count of `folded` (a number of a run counts 1).
    fn count(&self, folded: &str) -> u64 {
        match self.find(folded) {
            Some(e) => e.count,
            None => u64::from(implicitly_used(&self.runs, folded)),
        }
    }

    fn type_id(&mut self, op: &OpType) -> u32 {
        match op {
            OpType::Variable => 0,
            OpType::Other(t) => match self.types.iter().position(|k| k == t) {
                Some(i) => i as u32 + 1,
                None => {
                    self.types.push(t.clone());
                    self.types.len() as u32
                }
            },
        }
    }

    fn type_of(&self, id: u32) -> OpType {
        match id {
            0 => OpType::Variable,
            i => OpType::Other(self.types[i as usize - 1].clone()),
        }
    }
}

/// The entry of `folded` in `table`, inserted when missing (counting 1 when it was
/// in use as a number of a run, else 0; no op). `stored` is a shared copy of the
/// name (any case) to use as the key instead of a new one.
fn entry<'t>(
    table: &'t mut HashTable<NameEntry>,
    runs: &mut HashTable<Run>,
    folded: &str,
    stored: Option<&Key>,
) -> &'t mut NameEntry {
    entry_hashed(table, runs, folded, key_hash(folded), stored)
}

/// [`entry`] with `h`, the [`key_hash`] of `folded`.
fn entry_hashed<'t>(
    table: &'t mut HashTable<NameEntry>,
    runs: &mut HashTable<Run>,
    folded: &str,
    h: u32,
    stored: Option<&Key>,
) -> &'t mut NameEntry {
    find_or_insert_hashed(table, folded, h, |hash| {
        let key = match stored {
            Some(k) if k.eq_ignore_ascii_case(folded) => k.clone(),
            _ => Key::from(folded),
        };
        let mut count = 0;
        if let Some((base, i)) = split_numbered(folded) {
            let run = run_mut(runs, base);
            count = u64::from(i <= run.probed);
            run.max_explicit = run.max_explicit.max(i);
        }
        NameEntry {
            key,
            count,
            seq: 0,
            ty: NO_OP,
            hash,
        }
    })
}

/// Registers op `name` (any case of `e`'s name) in entry `e` of stripe `variants`.
/// `false` when an op of exactly that name exists.
fn add_op(
    e: &mut NameEntry,
    variants: &mut Vec<(Key, Vec<OpRec>)>,
    name: &Key,
    mut seq: impl FnMut() -> u64,
    ty: u32,
) -> bool {
    match e.ty {
        NO_OP => {
            // The key's case only matters as the op's spelling: take the op's.
            e.key = name.clone();
            e.seq = seq();
            e.ty = ty;
        }
        MANY => {
            let list = variants
                .iter_mut()
                .find(|(k, _)| *k == e.key)
                .map(|(_, l)| l)
                .expect("a MANY entry has its variants");
            if list.iter().any(|r| r.name == *name) {
                return false;
            }
            list.push(OpRec {
                name: name.clone(),
                seq: seq(),
                ty,
            });
        }
        _ if e.key == *name => return false,
        _ => {
            let first = OpRec {
                name: e.key.clone(),
                seq: e.seq,
                ty: e.ty,
            };
            let second = OpRec {
                name: name.clone(),
                seq: seq(),
                ty,
            };
            variants.push((e.key.clone(), vec![first, second]));
            e.ty = MANY;
        }
    }
    true
}

/// A registry of op names, striped by name family.
pub(crate) struct OpNames {
    stripes: Box<[CachePadded<Mutex<Stripe>>]>,
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
        }
    }

    fn stripe(&self, folded: &str) -> &Mutex<Stripe> {
        self.stripe_of(hash_folded(&folded[..family_len(folded)]))
    }

    /// The stripe of `folded`, and the name's [`key_hash`] (computed on the way when
    /// the family is the whole name, as it is for most names).
    fn stripe_hashed(&self, folded: &str) -> (&Mutex<Stripe>, u32) {
        let family = family_len(folded);
        let h = hash_folded(&folded[..family]);
        let key = if family == folded.len() {
            key_hash_of(h)
        } else {
            key_hash(folded)
        };
        (self.stripe_of(h), key)
    }

    /// The stripe of the family whose [`hash_folded`] is `family_hash`.
    fn stripe_of(&self, family_hash: u64) -> &Mutex<Stripe> {
        // The top bits of a multiply by a constant other than `key_hash`'s: they
        // depend on every byte of the family (Fx's own high bits depend on the first
        // few only), and not on the bits a stripe's table places its names by.
        let bits = self.stripes.len().trailing_zeros();
        let i = match bits {
            0 => 0,
            b => (family_hash.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> (64 - b)) as usize,
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
            Some(i) => suffixed(name, i),
        }
    }

    /// `unique(name, true)` as a shared name: the registry's own copy of the result
    /// when it has the exact spelling (a name scope then costs the registry's one
    /// allocation and no other).
    pub(crate) fn unique_key(&self, name: &str) -> Key {
        let folded = unicode_folded(name);
        let (stripe, h) = self.stripe_hashed(&folded);
        let mut guard = stripe.lock();
        let st = &mut *guard;
        let e = entry_hashed(&mut st.table, &mut st.runs, &folded, h, None);
        let n = e.count;
        e.count += 1;
        if n == 0 {
            return if *e.key == *name {
                e.key.clone()
            } else {
                Key::from(name)
            };
        }
        match next_free_marked(st, &folded, n) {
            (i, Some(key))
                if key.len() == name.len() + 1 + decimal_len(i) && key.starts_with(name) =>
            {
                key
            }
            (i, _) => suffixed_key_in(&mut st.spelled, name, i),
        }
    }

    /// `unique(name, true)`, then registers an op under the resulting name — both
    /// under one stripe lock. `stored` is a shared copy of `name`, used as the op name
    /// and the registry's key instead of a new allocation. `Err` with the name when
    /// another op has it already (only an absolute name can).
    pub(crate) fn unique_and_register(
        &self,
        name: &str,
        stored: Option<&Key>,
        op: OpType,
        counter: &AtomicU64,
    ) -> Result<(Key, u64), Key> {
        let folded = unicode_folded(name);
        let (stripe, h) = self.stripe_hashed(&folded);
        let mut guard = stripe.lock();
        let st = &mut *guard;
        let ty = st.type_id(&op);
        let mut taken_seq = 0;
        let mut seq = || {
            taken_seq = counter.fetch_add(1, Ordering::Relaxed);
            taken_seq
        };
        // The common case — the name is free — takes one probe.
        let e = entry_hashed(&mut st.table, &mut st.runs, &folded, h, stored);
        let n = e.count;
        e.count += 1;
        if n == 0 {
            let full = match stored {
                Some(k) if k.as_ref() == name => k.clone(),
                _ => Key::from(name),
            };
            return if add_op(e, &mut st.variants, &full, &mut seq, ty) {
                Ok((full, taken_seq))
            } else {
                Err(full)
            };
        }
        let i = next_free(st, &folded, n, false);
        let full = suffixed_key_in(&mut st.spelled, name, i);
        let candidate = std::mem::take(&mut st.scratch);
        let e = entry(&mut st.table, &mut st.runs, &candidate, Some(&full));
        e.count = e.count.max(1);
        let added = add_op(e, &mut st.variants, &full, &mut seq, ty);
        st.scratch = candidate;
        if added {
            Ok((full, taken_seq))
        } else {
            Err(full)
        }
    }

    /// Registers an op under an exact name, numbering it from `counter`. `None` when
    /// the name is taken.
    pub(crate) fn register(&self, name: Key, op: OpType, counter: &AtomicU64) -> Option<u64> {
        let folded = unicode_folded(&name).into_owned();
        let mut guard = self.stripe(&folded).lock();
        let st = &mut *guard;
        let ty = st.type_id(&op);
        let e = entry(&mut st.table, &mut st.runs, &folded, Some(&name));
        let mut seq = None;
        add_op(
            e,
            &mut st.variants,
            &name,
            || *seq.insert(counter.fetch_add(1, Ordering::Relaxed)),
            ty,
        );
        seq
    }

    /// Whether an op of this exact name exists.
    pub(crate) fn contains(&self, name: &str) -> bool {
        let folded = unicode_folded(name);
        let st = self.stripe(&folded).lock();
        match st.find(&folded) {
            None => false,
            Some(e) => match e.ty {
                NO_OP => false,
                MANY => st
                    .variants
                    .iter()
                    .any(|(k, l)| *k == e.key && l.iter().any(|r| &*r.name == name)),
                _ => &*e.key == name,
            },
        }
    }

    /// Every op, in registration order.
    pub(crate) fn ops(&self) -> Vec<(Key, OpType)> {
        let mut all: Vec<(u64, Key, OpType)> = Vec::new();
        for s in self.stripes.iter() {
            let s = s.lock();
            for e in s.table.iter() {
                match e.ty {
                    NO_OP | MANY => {}
                    ty => all.push((e.seq, e.key.clone(), s.type_of(ty))),
                }
            }
            for (_, list) in &s.variants {
                all.extend(
                    list.iter()
                        .map(|r| (r.seq, r.name.clone(), s.type_of(r.ty))),
                );
            }
        }
        all.sort_unstable_by_key(|r| r.0);
        all.into_iter().map(|(_, k, t)| (k, t)).collect()
    }
}

/// `{name}_{i}`, built without the formatting machinery.
fn suffixed(name: &str, i: u64) -> String {
    let mut s = String::with_capacity(name.len() + 21);
    s.push_str(name);
    s.push('_');
    push_decimal(&mut s, i);
    s
}

/// `{name}_{i}` as a shared name: one allocation (the key's), the text assembled in
/// `buf` (a stripe's reused buffer).
fn suffixed_key_in(buf: &mut String, name: &str, i: u64) -> Key {
    candidate(buf, name, i);
    Key::from(buf.as_str())
}

/// The number of decimal digits of `i`.
fn decimal_len(i: u64) -> usize {
    i.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Appends `i` in decimal.
fn push_decimal(s: &mut String, i: u64) {
    s.push_str(itoa::Buffer::new().format(i));
}

/// The first `i >= n` with `{folded}_{i}` not in use; the candidate is left in the
/// stripe's scratch buffer. With `mark`, the candidate is also marked used (TF's
/// `_names_in_use[name_i] = 1`) in the same probe.
fn next_free(st: &mut Stripe, folded: &str, n: u64, mark: bool) -> u64 {
    if mark {
        return next_free_marked(st, folded, n).0;
    }
    let (probed, max_explicit) = run_state(&st.runs, folded);
    let mut i = n;
    loop {
        if i > probed.max(max_explicit) {
            // Neither an entry nor the run can hold it.
            candidate(&mut st.scratch, folded, i);
            return i;
        }
        let mut scratch = std::mem::take(&mut st.scratch);
        candidate(&mut scratch, folded, i);
        let used = st.in_use(&scratch);
        st.scratch = scratch;
        if !used {
            return i;
        }
        i += 1;
    }
}

/// [`next_free`] with `mark`: the name found is marked used (TF's
/// `_names_in_use[name_i] = 1`), by extending the base's run when it is the run's
/// next number, else in an entry. Returns the registry's key of the name when it has
/// an entry.
fn next_free_marked(st: &mut Stripe, folded: &str, n: u64) -> (u64, Option<Key>) {
    let (mut probed, max_explicit) = run_state(&st.runs, folded);
    let mut i = n;
    let mut scratch = std::mem::take(&mut st.scratch);
    let found = loop {
        candidate(&mut scratch, folded, i);
        // Only names up to `max_explicit` can have an entry.
        let explicit = if i <= max_explicit {
            st.find(&scratch).map(|e| e.count)
        } else {
            None
        };
        let used = explicit.map_or(i <= probed, |c| c > 0);
        // Unless it is the run's next number without an entry, a free name is
        // marked in its entry.
        let key = if used || (explicit.is_none() && i == probed + 1) {
            None
        } else {
            let e = entry(&mut st.table, &mut st.runs, &scratch, None);
            e.count = 1;
            Some(e.key.clone())
        };
        // Either way `{folded}_{i}` is in use now: the run grows over it.
        if i == probed + 1 {
            probed = i;
        }
        if !used {
            break key;
        }
        i += 1;
    };
    st.scratch = scratch;
    if probed > 0 {
        let run = run_mut(&mut st.runs, folded);
        run.probed = run.probed.max(probed);
    }
    (i, found)
}

/// Writes `{folded}_{i}` into `buf` (any `{name}_{i}`, folded or not).
fn candidate(buf: &mut String, folded: &str, i: u64) {
    buf.clear();
    buf.push_str(folded);
    buf.push('_');
    push_decimal(buf, i);
}

/// The core of TF's `unique_name` on one stripe: `None` when `folded` itself is free
/// (or was: `mark` counts a use either way), `Some(i)` when the name is `name_i`.
fn probe(st: &mut Stripe, folded: &str, mark: bool, stored: Option<&Key>) -> Option<u64> {
    let n = if mark {
        let e = entry(&mut st.table, &mut st.runs, folded, stored);
        e.count += 1;
        e.count - 1
    } else {
        st.count(folded)
    };
    if n == 0 {
        return None;
    }
    Some(next_free(st, folded, n, mark))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_get_distinct_table_hashes() {
        // Names differing only in a late byte (`blk_10000` … `blk_19999`) must not
        // collide: the table's tag and position both come from `key_hash`.
        let hashes: std::collections::HashSet<u64> = (10_000..20_000)
            .map(|i| spread(key_hash(&format!("blk_{i}"))))
            .collect();
        assert!(hashes.len() > 9_990, "{} distinct", hashes.len());
        let tags: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(tags.len(), 128);
    }

    #[test]
    fn families_spread_over_the_stripes() {
        // Families that share a long prefix (`layer_17/kernel`) still spread.
        let names = OpNames::with_stripes(64);
        let used: std::collections::HashSet<*const Mutex<Stripe>> = (0..2_000)
            .map(|i| names.stripe(&format!("layer_{i}/kernel")) as *const _)
            .collect();
        assert_eq!(used.len(), 64);
    }

    #[test]
    fn an_entry_stays_five_words() {
        // The hash lives in what would be padding: bookkeeping per op stays put.
        assert_eq!(std::mem::size_of::<NameEntry>(), 40);
    }

    #[test]
    fn numbered_names_split_at_the_last_underscore() {
        assert_eq!(split_numbered("a_12"), Some(("a", 12)));
        assert_eq!(split_numbered("a_1_2"), Some(("a_1", 2)));
        assert_eq!(split_numbered("_5"), Some(("", 5)));
        for n in ["a", "a_", "a_0", "a_01", "a_1/b", "12", "_", "", "a_1x"] {
            assert_eq!(split_numbered(n), None, "{n}");
        }
    }

    #[test]
    fn decimal_suffixes() {
        for i in [0u64, 7, 10, 99, 1234567890, u64::MAX] {
            assert_eq!(suffixed("n", i), format!("n_{i}"));
            assert_eq!(
                &*suffixed_key_in(&mut String::new(), "n", i),
                format!("n_{i}")
            );
            let long = "x".repeat(200);
            assert_eq!(
                &*suffixed_key_in(&mut String::new(), &long, i),
                format!("{long}_{i}")
            );
        }
    }

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
        let c = AtomicU64::new(0);
        assert_eq!(r.unique("foo", true), "foo");
        assert_eq!(r.unique("FOO", true), "FOO_1");
        assert_eq!(r.unique("foo_1", true), "foo_1_1");
        assert_eq!(r.unique("foo", true), "foo_2");
        assert_eq!(r.unique("bar", false), "bar");
        assert_eq!(r.unique("bar", false), "bar");
        let k = Key::from("v");
        let (v, seq) = r
            .unique_and_register("v", Some(&k), OpType::Variable, &c)
            .unwrap();
        assert!(std::sync::Arc::ptr_eq(&v, &k) && seq == 0);
        let (v1, seq) = r
            .unique_and_register("v", None, OpType::Variable, &c)
            .unwrap();
        assert_eq!((&*v1, seq), ("v_1", 1));
        assert!(r.contains("v") && r.contains("v_1") && !r.contains("V"));
        assert!(r.register(Key::from("v"), OpType::Variable, &c).is_none());
    }

    #[test]
    fn ops_in_several_cases_are_kept_apart() {
        let r = OpNames::with_stripes(2);
        let c = AtomicU64::new(0);
        assert!(r
            .register(Key::from("Conv"), OpType::Variable, &c)
            .is_some());
        let konst = OpType::Other(Key::from("Const"));
        assert!(r.register(Key::from("conv"), konst, &c).is_some());
        assert!(r
            .register(Key::from("CONV"), OpType::Variable, &c)
            .is_some());
        assert!(r
            .register(Key::from("conv"), OpType::Variable, &c)
            .is_none());
        assert!(r.contains("Conv") && r.contains("conv") && r.contains("CONV"));
        assert!(!r.contains("cOnv"));
        let ops: Vec<String> = r.ops().iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(ops, ["Conv", "conv", "CONV"]);
        assert_eq!(r.ops()[1].1.as_str(), "Const");
        // Registering absolute names does not mark them used (TF's `name_scope("x/")`).
        assert_eq!(r.unique("conv", true), "conv");
        assert_eq!(r.unique("Conv", true), "Conv_1");
    }

    /// TF's `Graph.unique_name` and op registration, as a plain dict (ops.py), for
    /// comparison.
    #[derive(Default)]
    struct TfModel {
        in_use: std::collections::HashMap<String, u64>,
        ops: std::collections::HashSet<String>,
    }

    impl TfModel {
        fn unique(&mut self, name: &str, mark: bool) -> String {
            let key = name.to_lowercase();
            let mut i = self.in_use.get(&key).copied().unwrap_or(0);
            if mark {
                self.in_use.insert(key.clone(), i + 1);
            }
            if i == 0 {
                return name.to_string();
            }
            let base = key;
            let mut k = format!("{base}_{i}");
            while self.in_use.get(&k).copied().unwrap_or(0) > 0 {
                i += 1;
                k = format!("{base}_{i}");
            }
            if mark {
                self.in_use.insert(k, 1);
            }
            format!("{name}_{i}")
        }
    }

    #[derive(Debug, Clone)]
    enum NameOp {
        Unique(String, bool),
        UniqueKey(String),
        Register(String),
        UniqueAndRegister(String),
    }

    fn name_op() -> impl proptest::strategy::Strategy<Value = NameOp> {
        use proptest::prelude::*;
        let name = || proptest::string::string_regex("(a|A|b)(_(0|1|2|3|10))?(_(1|2))?").unwrap();
        prop_oneof![
            3 => (name(), any::<bool>()).prop_map(|(n, m)| NameOp::Unique(n, m)),
            3 => name().prop_map(NameOp::UniqueKey),
            1 => name().prop_map(NameOp::Register),
            2 => name().prop_map(NameOp::UniqueAndRegister),
        ]
    }

    proptest::proptest! {
        #[test]
        fn numbering_matches_tf(ops in proptest::collection::vec(name_op(), 0..80), stripes in 1usize..4) {
            let r = OpNames::with_stripes(stripes);
            let counter = AtomicU64::new(0);
            let mut tf = TfModel::default();
            for op in &ops {
                match op {
                    NameOp::Unique(n, mark) => {
                        proptest::prop_assert_eq!(r.unique(n, *mark), tf.unique(n, *mark), "{:?}", op);
                    }
                    NameOp::UniqueKey(n) => {
                        proptest::prop_assert_eq!(&*r.unique_key(n), tf.unique(n, true), "{:?}", op);
                    }
                    NameOp::Register(n) => {
                        let ours = r.register(Key::from(n.as_str()), OpType::Variable, &counter).is_some();
                        proptest::prop_assert_eq!(ours, tf.ops.insert(n.clone()), "{:?}", op);
                    }
                    NameOp::UniqueAndRegister(n) => {
                        let want = tf.unique(n, true);
                        let fresh = tf.ops.insert(want.clone());
                        match r.unique_and_register(n, None, OpType::Variable, &counter) {
                            Ok((k, _)) => {
                                proptest::prop_assert!(fresh, "{:?}", op);
                                proptest::prop_assert_eq!(&*k, want.as_str());
                            }
                            Err(k) => {
                                proptest::prop_assert!(!fresh, "{:?}", op);
                                proptest::prop_assert_eq!(&*k, want.as_str());
                            }
                        }
                    }
                }
                for (name, used) in &tf.in_use {
                    let ours = r.unique(name, false) != *name;
                    proptest::prop_assert_eq!(ours, *used > 0, "in use: {} after {:?}", name, op);
                }
            }
        }
    }

    #[test]
    fn a_scope_reopened_adds_no_entry_per_number() {
        let r = OpNames::with_stripes(1);
        for i in 0..1000u64 {
            let want = if i == 0 {
                "a".to_string()
            } else {
                format!("a_{i}")
            };
            assert_eq!(&*r.unique_key("a"), want.as_str());
        }
        let st = r.stripes[0].lock();
        assert_eq!(st.table.len(), 1, "only `a` itself has an entry");
        drop(st);
        // The numbers still count as used: an explicit `a_5` is taken …
        assert_eq!(r.unique("a_5", true), "a_5_1");
        // … and numbering continues after them, skipping explicit names.
        r.unique("a_1001", true);
        assert_eq!(r.unique("a", true), "a_1000");
        assert_eq!(r.unique("A", true), "A_1002");
    }
}
