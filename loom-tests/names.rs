//! Loom models of graph-wide name uniquification: op names (`Graph::create_op`) and
//! name scopes share one table, and concurrent requests for the same name never get
//! the same result.
#![cfg(loom)]

use loom::thread;
use varscope::{name_scope, Graph};

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Two threads each create two `Const` ops: four distinct names, four records.
#[test]
fn concurrent_op_names_are_unique() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let make_two = |g: &Graph| {
            vec![
                g.create_op("Const", None).unwrap(),
                g.create_op("Const", None).unwrap(),
            ]
        };
        let t = {
            let g = g.clone();
            thread::spawn(move || make_two(&g))
        };
        let mut names = make_two(&g);
        names.extend(t.join().unwrap());
        assert_eq!(sorted(names), ["Const", "Const_1", "Const_2", "Const_3"]);
        let recorded = sorted(g.ops().into_iter().map(|o| o.name).collect());
        assert_eq!(recorded, ["Const", "Const_1", "Const_2", "Const_3"]);
    });
}

/// Two threads open name scope `s` and create an op in it: distinct scopes
/// (`s/`, `s_1/`) and ops under them.
#[test]
fn concurrent_name_scopes_are_unique() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let open = |g: &Graph| {
            g.as_default(|| {
                name_scope("s", |ns| {
                    (ns.to_string(), g.create_op("Const", None).unwrap())
                })
                .unwrap()
            })
        };
        let t = {
            let g = g.clone();
            thread::spawn(move || open(&g))
        };
        let (ns_a, op_a) = open(&g);
        let (ns_b, op_b) = t.join().unwrap();
        assert_ne!(ns_a, ns_b);
        assert_eq!(sorted(vec![ns_a.clone(), ns_b]), ["s/", "s_1/"]);
        assert_eq!(op_a, format!("{ns_a}Const"));
        assert_eq!(sorted(vec![op_a, op_b]), ["s/Const", "s_1/Const"]);
    });
}

/// An op named `s` and a name scope `s` race for the same entry of the shared table:
/// exactly one of them gets `s`.
#[test]
fn op_name_and_name_scope_share_the_table() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let t = {
            let g = g.clone();
            thread::spawn(move || g.as_default(|| name_scope("s", |ns| ns.to_string()).unwrap()))
        };
        let op = g.create_op("NoOp", Some("s")).unwrap();
        let ns = t.join().unwrap();
        let ns = ns.strip_suffix('/').unwrap().to_string();
        assert_eq!(sorted(vec![op, ns]), ["s", "s_1"]);
    });
}

/// One thread opens name scope `s` twice while another opens `s_1`: the three scopes
/// are distinct. `s_1` is both a candidate of `s`'s second `unique_name` call and a
/// name of its own, so both calls must see the same table entry for it; with two
/// stripes, a registry that striped by the full name rather than by the family would
/// keep `s_1` in two stripes and hand it out twice.
#[test]
fn name_scope_and_its_suffixed_candidate_are_unique() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 2);
        let open = |g: &Graph, name: &'static str| {
            g.as_default(|| name_scope(name, |ns| ns.to_string()).unwrap())
        };
        let t = {
            let g = g.clone();
            thread::spawn(move || open(&g, "s_1"))
        };
        let first = open(&g, "s");
        let second = open(&g, "s");
        let other = t.join().unwrap();
        assert_eq!(first, "s/");
        let all = sorted(vec![first, second, other]);
        assert!(
            all == ["s/", "s_1/", "s_2/"] || all == ["s/", "s_1/", "s_1_1/"],
            "{all:?}"
        );
    });
}
