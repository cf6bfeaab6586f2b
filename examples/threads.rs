//! Builds a small model from several threads that share a captured scope, then
//! initializes every variable in parallel and prints them.
//!
//! Each worker thread re-enters the captured `model` scope (TF1's documented idiom for
//! adopting another thread's prefix) and builds one tower. Towers share the embedding
//! and the attention weights through `Reuse::Auto`; each tower also owns a head.
//! However the threads interleave, every shared weight is created exactly once and
//! gets the same values.

use std::time::Instant;
use varscope::{get_variable, variable_scope, Graph, Init, Result, Reuse, Variable, VariableScope};

const TOWERS: usize = 4;
const VOCAB: usize = 4096;
const DIM: usize = 256;

fn tower(i: usize, model: &VariableScope) -> Result<Vec<Variable>> {
    variable_scope(model).enter(|_| {
        let mut vars = Vec::new();
        variable_scope("shared")
            .reuse(Reuse::Auto)
            .enter(|_| -> Result<()> {
                vars.push(get_variable("embedding").shape([VOCAB, DIM]).build()?);
                for name in ["query", "key", "value", "output"] {
                    vars.push(get_variable(name).shape([DIM, DIM]).build()?);
                }
                Ok(())
            })?;
        variable_scope(format!("tower_{i}")).enter(|_| -> Result<()> {
            vars.push(get_variable("head").shape([DIM, 16]).build()?);
            vars.push(
                get_variable("bias")
                    .shape([16])
                    .initializer(Init::zeros())
                    .build()?,
            );
            Ok(())
        })?;
        Ok(vars)
    })
}

fn main() -> Result<()> {
    let graph = Graph::with_seed(2024);
    let model = graph.as_default(|| variable_scope("model").enter(|s| s.clone()))?;

    let start = Instant::now();
    let per_tower: Vec<Vec<Variable>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..TOWERS)
            .map(|i| {
                let (graph, model) = (graph.clone(), model.clone());
                s.spawn(move || graph.as_default(|| tower(i, &model)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("tower thread panicked"))
            .collect::<Result<_>>()
    })?;
    let built = start.elapsed();

    // Every tower got the very same shared variables.
    for t in &per_tower[1..] {
        assert!(t[..5].iter().zip(&per_tower[0][..5]).all(|(a, b)| a == b));
    }

    let start = Instant::now();
    let bytes = graph.initialize_all()?;
    let init = start.elapsed();

    println!(
        "{:<28} {:>12} {:>8} {:>10}",
        "variable", "shape", "dtype", "params"
    );
    let mut total = 0;
    for v in graph.global_variables() {
        let n = v.shape().num_elements();
        total += n;
        println!(
            "{:<28} {:>12} {:>8} {:>10}",
            v.name(),
            v.shape().to_string(),
            v.dtype(),
            n
        );
    }
    println!(
        "{} variables, {total} parameters, {:.1} MB; built from {TOWERS} threads in {:.1?}, initialized in {:.1?} ({:.2} GB/s); graph seed {}",
        graph.global_variables().len(),
        bytes as f64 / 1e6,
        built,
        init,
        bytes as f64 / init.as_secs_f64().max(1e-9) / 1e9,
        graph.seed()
    );
    Ok(())
}
