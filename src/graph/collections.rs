//! The graph's collections (TF's `tf.add_to_collection` / `get_collection`),
//! appended to without a graph-wide lock and read back in insertion order.
//!
//! Every append carries a number from the graph's event counter (a variable's is
//! the one its op name got) and goes to the
//! calling thread's stripe. A read gathers the matching records of every stripe and
//! orders them by sequence number, which is the order in which the appends happened.
//! Built-in collections (global, trainable, local variables, regularization losses,
//! and the internal list of all variables) are bits of one mask, so a new variable
//! is one record in every collection it joins; other collections are interned once
//! and referred to by number — no string is allocated per append.

use crate::sync::{self, Mutex, RwLock};
use crate::variable::{RegularizationLoss, Variable};
use crossbeam_utils::CachePadded;
use std::collections::HashMap;

/// Collection key of all global variables (TF's `GraphKeys.GLOBAL_VARIABLES`).
///
/// ```
/// use varscope::{get_variable, Graph, GLOBAL_VARIABLES};
/// let g = Graph::with_seed(1);
/// let w = g.as_default(|| get_variable("w").shape([1]).build()).unwrap();
/// assert_eq!(GLOBAL_VARIABLES, "variables"); // TF's key
/// assert_eq!(g.get_collection(GLOBAL_VARIABLES), vec![w]);
/// ```
pub const GLOBAL_VARIABLES: &str = "variables";
/// Collection key of trainable variables.
///
/// ```
/// use varscope::{get_variable, Graph, TRAINABLE_VARIABLES};
/// let g = Graph::with_seed(1);
/// g.as_default(|| get_variable("step").shape([1]).trainable(false).build()).unwrap();
/// assert!(g.get_collection(TRAINABLE_VARIABLES).is_empty());
/// ```
pub const TRAINABLE_VARIABLES: &str = "trainable_variables";
/// Collection key of local (non-checkpointed, non-trainable) variables.
///
/// ```
/// use varscope::{get_local_variable, Graph, LOCAL_VARIABLES};
/// let g = Graph::with_seed(1);
/// g.as_default(|| get_local_variable("n").shape([1]).build()).unwrap();
/// assert_eq!(g.collection_len(LOCAL_VARIABLES), 1);
/// ```
pub const LOCAL_VARIABLES: &str = "local_variables";
/// Collection key of regularization losses.
///
/// ```
/// use varscope::{get_variable, Graph, Regularizer, REGULARIZATION_LOSSES};
/// let g = Graph::with_seed(1);
/// g.as_default(|| get_variable("w").shape([1]).regularizer(Regularizer::l2(1.0)).build()).unwrap();
/// assert_eq!(g.collection_len(REGULARIZATION_LOSSES), 1);
/// ```
pub const REGULARIZATION_LOSSES: &str = "regularization_losses";

/// One item of a graph collection.
///
/// ```
/// use varscope::{get_variable, CollectionItem, Graph};
/// let g = Graph::with_seed(1);
/// let w = g.as_default(|| get_variable("w").shape([1]).build()).unwrap();
/// g.add_to_collection("mine", &w);
/// match &g.collection_items("mine")[..] {
///     [CollectionItem::Variable(v)] => assert_eq!(v, &w),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CollectionItem {
    /// A variable.
    Variable(Variable),
    /// A regularization loss.
    Loss(RegularizationLoss),
}

/// A set of collections, as bits (built-ins) plus at most one interned other key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Membership {
    mask: u8,
    /// An interned non-built-in collection (`0`: none).
    other: u32,
}

/// Bit of the internal list of every variable, in creation order.
pub(crate) const ALL: u8 = 1 << 0;
const GLOBAL: u8 = 1 << 1;
const TRAINABLE: u8 = 1 << 2;
const LOCAL: u8 = 1 << 3;
const LOSSES: u8 = 1 << 4;

fn builtin(key: &str) -> Option<u8> {
    Some(match key {
        GLOBAL_VARIABLES => GLOBAL,
        TRAINABLE_VARIABLES => TRAINABLE,
        LOCAL_VARIABLES => LOCAL,
        REGULARIZATION_LOSSES => LOSSES,
        _ => return None,
    })
}

impl Membership {
    /// Built-in collections only.
    pub(crate) fn builtins(mask: u8) -> Self {
        Membership { mask, other: 0 }
    }
}

/// A variable's appearance in collections: 24 bytes.
struct VarRecord {
    seq: u64,
    var: Variable,
    of: Membership,
}

/// Any other item's.
struct Record {
    seq: u64,
    item: CollectionItem,
    of: Membership,
}

/// One thread's appends.
#[derive(Default)]
struct Stripe {
    vars: Vec<VarRecord>,
    others: Vec<Record>,
}

impl Stripe {
    fn push(&mut self, seq: u64, item: CollectionItem, of: Membership) {
        match item {
            CollectionItem::Variable(var) => self.vars.push(VarRecord { seq, var, of }),
            item => self.others.push(Record { seq, item, of }),
        }
    }
}

/// An item as a collection read sees it.
enum ItemRef<'a> {
    Variable(&'a Variable),
    Other(&'a CollectionItem),
}

/// What to look up: a built-in bit or an interned key.
#[derive(Clone, Copy)]
enum Query {
    Bit(u8),
    Other(u32),
}

/// The collections of one graph.
pub(crate) struct Collections {
    stripes: Box<[CachePadded<Mutex<Stripe>>]>,
    /// Interned keys of non-built-in collections (ids start at 1).
    interned: RwLock<HashMap<std::sync::Arc<str>, u32>>,
}

sync::thread_local! {
    /// The calling thread's stripe seed: threads spread over stripes round-robin.
    static STRIPE: usize = sync::next_id() as usize;
}

impl Collections {
    pub(crate) fn with_stripes(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        Collections {
            stripes: (0..n).map(|_| CachePadded::new(Mutex::default())).collect(),
            interned: RwLock::new(HashMap::new()),
        }
    }

    fn my_stripe(&self) -> &Mutex<Stripe> {
        let i = STRIPE.with(|s| *s) & (self.stripes.len() - 1);
        &self.stripes[i]
    }

    fn intern(&self, key: &str) -> u32 {
        if let Some(&id) = self.interned.read().get(key) {
            return id;
        }
        let mut map = self.interned.write();
        let next = map.len() as u32 + 1;
        *map.entry(std::sync::Arc::from(key)).or_insert(next)
    }

    fn query(&self, key: &str) -> Option<Query> {
        match builtin(key) {
            Some(bit) => Some(Query::Bit(bit)),
            None => self.interned.read().get(key).map(|&id| Query::Other(id)),
        }
    }

    /// The membership for a list of collection keys (built-ins as bits, others
    /// interned). Keys beyond the first non-built-in one are returned separately.
    pub(crate) fn membership<'k>(
        &self,
        base: u8,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> (Membership, Vec<u32>) {
        let mut m = Membership::builtins(base);
        let mut extra = Vec::new();
        for k in keys {
            match builtin(k) {
                Some(bit) => m.mask |= bit,
                None => {
                    let id = self.intern(k);
                    if m.other == 0 {
                        m.other = id;
                    } else if m.other != id && !extra.contains(&id) {
                        extra.push(id);
                    }
                }
            }
        }
        (m, extra)
    }

    /// Appends `item` to the collections of `of` (and to each of `extra`), as event
    /// `seq` of the graph.
    pub(crate) fn push(&self, item: CollectionItem, of: Membership, extra: &[u32], seq: u64) {
        let mut stripe = self.my_stripe().lock();
        for &id in extra {
            stripe.push(seq, item.clone(), Membership { mask: 0, other: id });
        }
        stripe.push(seq, item, of);
    }

    /// Appends `item` to the collection `key`.
    pub(crate) fn push_to(&self, key: &str, item: CollectionItem, seq: u64) {
        let (of, extra) = self.membership(0, [key]);
        self.push(item, of, &extra, seq);
    }

    fn collect<T>(&self, q: Query, mut f: impl FnMut(ItemRef<'_>) -> Option<T>) -> Vec<T> {
        let hit = |of: &Membership| match q {
            Query::Bit(b) => of.mask & b != 0,
            Query::Other(id) => of.other == id,
        };
        let mut found: Vec<(u64, T)> = Vec::new();
        for stripe in self.stripes.iter() {
            let stripe = stripe.lock();
            for r in stripe.vars.iter().filter(|r| hit(&r.of)) {
                if let Some(t) = f(ItemRef::Variable(&r.var)) {
                    found.push((r.seq, t));
                }
            }
            for r in stripe.others.iter().filter(|r| hit(&r.of)) {
                if let Some(t) = f(ItemRef::Other(&r.item)) {
                    found.push((r.seq, t));
                }
            }
        }
        // A stable sort keeps a stripe's records of one sequence number in order.
        found.sort_by_key(|r| r.0);
        found.into_iter().map(|r| r.1).collect()
    }

    /// The items of collection `key`, in insertion order.
    pub(crate) fn items(&self, key: &str) -> Vec<CollectionItem> {
        match self.query(key) {
            Some(q) => self.collect(q, |i| {
                Some(match i {
                    ItemRef::Variable(v) => CollectionItem::Variable(v.clone()),
                    ItemRef::Other(item) => item.clone(),
                })
            }),
            None => Vec::new(),
        }
    }

    /// The variables of collection `key` whose names start with `prefix`.
    pub(crate) fn variables(&self, key: &str, prefix: &str) -> Vec<Variable> {
        match self.query(key) {
            Some(q) => self.collect(q, |i| match i {
                ItemRef::Variable(v) if name_starts_with(v.op_name(), prefix) => Some(v.clone()),
                _ => None,
            }),
            None => Vec::new(),
        }
    }

    /// Every variable of the graph, in creation order.
    pub(crate) fn all_variables(&self) -> Vec<Variable> {
        self.collect(Query::Bit(ALL), |i| match i {
            ItemRef::Variable(v) => Some(v.clone()),
            ItemRef::Other(_) => None,
        })
    }

    /// Length of collection `key`.
    pub(crate) fn len(&self, key: &str) -> usize {
        self.query(key)
            .map_or(0, |q| self.collect(q, |_| Some(())).len())
    }
}

/// Whether the tensor name `{op_name}:0` starts with `prefix`, without building it.
fn name_starts_with(op_name: &str, prefix: &str) -> bool {
    match prefix.strip_prefix(op_name) {
        Some(rest) => ":0".starts_with(rest),
        None => op_name.starts_with(prefix),
    }
}

/// Bits of the built-in collections a variable joins by default.
pub(crate) fn default_mask(trainable: bool) -> u8 {
    ALL | GLOBAL | if trainable { TRAINABLE } else { 0 }
}

/// Bit for `trainable_variables`.
pub(crate) fn trainable_bit() -> u8 {
    TRAINABLE
}
