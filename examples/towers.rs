//! Eight towers built concurrently on the actor runtime, all sharing one set of
//! weights.
//!
//! Every tower is a job submitted with the captured root scope `model`. A tower
//!
//! * opens its own name scope `model/tower_{i}/` and creates a few ops there (not shared),
//! * calls the template `shared_block` (created once, up front, with
//!   `create_scope_now`) — its first call creates `model/shared_block/{w,b}` and
//!   every later call, on any worker, reuses them,
//! * enters `variable_scope("shared")` with `Reuse::Auto` and asks for
//!   `embedding` and a partitioned `softmax_w` — whichever tower comes first creates
//!   them, exactly once, and the others get the same variables.
//!
//! So however many workers run the towers, the graph ends up with one set of
//! variables with the same names. Run with `cargo run --example towers [workers]`.

use varscope::partition::FixedSizePartitioner;
use varscope::{
    get_variable, make_template, name_scope, variable_scope, Graph, Init, JobHandle, Result, Reuse,
    Runtime, Template, Variable,
};

/// Number of towers the example builds.
pub const TOWERS: usize = 8;

/// What one tower job built.
#[derive(Debug, Clone)]
pub struct Tower {
    /// The tower's index.
    pub index: usize,
    /// The worker thread that ran the job.
    pub worker: String,
    /// The names of the ops the tower created (its own, not shared).
    pub ops: Vec<String>,
    /// The variables the tower resolved (the shards of partitioned ones), in the
    /// order it asked for them.
    pub variables: Vec<Variable>,
}

/// A built graph and the towers in it.
#[derive(Debug)]
pub struct Towers {
    /// The graph holding the shared variables and every tower's ops.
    pub graph: Graph,
    /// The towers, by index.
    pub towers: Vec<Tower>,
}

/// The shared dense block: `x · w + b`.
type Block = Template<(Variable, Variable)>;

/// Builds `towers` towers on a runtime with `workers` workers.
///
/// # Errors
/// Any error of the runtime or of a tower's job.
pub fn build_towers(workers: usize, towers: usize) -> Result<Towers> {
    let graph = Graph::with_seed(2024);
    // The root scope and the template, captured on this thread.
    let (model, block) = graph.as_default(|| {
        variable_scope("model").enter(|scope| -> Result<_> {
            let block = make_template("shared_block", || {
                let w = get_variable("w").shape([16usize, 16]).build()?;
                let b = get_variable("b")
                    .shape([16usize])
                    .initializer(Init::zeros())
                    .build()?;
                Ok((w, b))
            })
            .create_scope_now(true)
            .build()?;
            Ok((scope.clone(), block))
        })
    })?;

    let rt = Runtime::new(workers)?;
    let handles: Vec<JobHandle<Tower>> = (0..towers)
        .map(|i| {
            let (g, block) = (graph.clone(), block.clone());
            rt.submit(&graph, Some(&model), move || build_tower(i, &g, &block))
        })
        .collect();
    let towers = handles
        .into_iter()
        .map(JobHandle::join)
        .collect::<Result<Vec<_>>>()?;
    rt.shutdown()?;
    Ok(Towers { graph, towers })
}

/// One tower; runs on a worker inside the captured `model` scope.
fn build_tower(index: usize, graph: &Graph, block: &Block) -> Result<Tower> {
    // Re-entering the captured `model` scope opened a fresh, uniquified name scope
    // (`model_1/`, `model_2/`, … in whatever order the workers got there — TF's
    // behaviour). The absolute name scope `model/tower_{i}/` gives every tower's ops
    // names that do not depend on scheduling.
    name_scope(&format!("model/tower_{index}/"), |_| -> Result<Tower> {
        let mut ops = vec![graph.create_op("Placeholder", Some("input"))?];
        let (w, b) = block.call()?;
        ops.push(graph.create_op("MatMul", Some("hidden"))?);
        let (embedding, softmax) =
            variable_scope("shared")
                .reuse(Reuse::Auto)
                .enter(|_| -> Result<_> {
                    let embedding = get_variable("embedding").shape([100usize, 16]).build()?;
                    let softmax = get_variable("softmax_w")
                        .shape([16usize, 10])
                        .partitioner(FixedSizePartitioner::new(2, 0))
                        .build_partitioned()?;
                    Ok((embedding, softmax))
                })?;
        ops.push(graph.create_op("MatMul", Some("logits"))?);
        let mut variables = vec![w, b, embedding];
        variables.extend(softmax.shards().iter().cloned());
        Ok(Tower {
            index,
            worker: std::thread::current().name().unwrap_or("?").to_string(),
            ops,
            variables,
        })
    })
}

fn main() -> Result<()> {
    let workers = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let built = build_towers(workers, TOWERS)?;
    println!("{TOWERS} towers on {workers} workers\n");
    for t in &built.towers {
        println!("tower {} ran on {}: ops {:?}", t.index, t.worker, t.ops);
    }
    println!("\nvariables (one set, shared by every tower):");
    for v in built.graph.global_variables() {
        println!("  {:<34} {:?}", v.name(), v.shape().dims());
    }
    println!("\nstore entries:");
    for (name, v) in built.graph.store().entries() {
        println!("  {:<34} {:?}", name, v.shape().dims());
    }
    Ok(())
}
