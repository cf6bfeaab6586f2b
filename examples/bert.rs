//! BERT (google-research/bert's `modeling.py` BertModel, with the pretraining heads
//! of `run_pretraining.py`) ported to varscope: the variable-creating code, line for
//! line, with `varscope::layers` in place of `tf.layers.dense` and
//! `tf.contrib.layers.layer_norm`.
//!
//! The embeddings, the pooler and the heads are built on the calling thread; the
//! encoder layers are built concurrently, one job per layer on a `Runtime`, each in
//! the captured `bert/encoder` scope (`Context::capture` + `Runtime::submit_in`).
//! The variables — names, shapes and (as they derive from the graph seed and the
//! names) values — are those of `examples/bert.toml` and, for names and shapes, of
//! TensorFlow itself (`tests/bert.rs`).
//!
//! Run with `cargo run --release --example bert [workers]`.

use varscope::{layers, variable_scope, Context, Graph, Init, JobHandle, Result, Runtime};

/// The fields of `bert_config.json` that decide the variables.
#[derive(Debug, Clone)]
pub struct BertConfig {
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `intermediate_size`.
    pub intermediate_size: usize,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// `type_vocab_size`.
    pub type_vocab_size: usize,
    /// `initializer_range`.
    pub initializer_range: f64,
}

impl BertConfig {
    /// BERT-base, as in the released `bert_config.json`.
    pub fn base() -> BertConfig {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            intermediate_size: 3072,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
        }
    }
}

/// `create_initializer(initializer_range)`.
fn create_initializer(config: &BertConfig) -> Init {
    Init::truncated_normal(0.0, config.initializer_range)
}

/// `tf.layers.dense(x, units, name=name, kernel_initializer=create_initializer(…))`
/// on an input of width `inputs`.
fn dense(config: &BertConfig, inputs: usize, units: usize, name: Option<&str>) -> Result<()> {
    let mut l = layers::dense(inputs, units).kernel_initializer(create_initializer(config));
    if let Some(n) = name {
        l = l.name(n);
    }
    l.build()?;
    Ok(())
}

/// `modeling.layer_norm(x)`: `tf.contrib.layers.layer_norm(x, scope=None)`.
fn layer_norm(width: usize) -> Result<()> {
    layers::layer_norm(width).build()?;
    Ok(())
}

/// One layer of `transformer_model`, in the current scope (`layer_{i}`).
fn encoder_layer(config: &BertConfig) -> Result<()> {
    let (h, i) = (config.hidden_size, config.intermediate_size);
    variable_scope("attention").enter(|_| -> Result<()> {
        // attention_layer: query, key and value projections.
        variable_scope("self").enter(|_| -> Result<()> {
            for name in ["query", "key", "value"] {
                dense(config, h, h, Some(name))?;
            }
            Ok(())
        })?;
        variable_scope("output").enter(|_| -> Result<()> {
            dense(config, h, h, None)?;
            layer_norm(h)
        })
    })?;
    variable_scope("intermediate").enter(|_| dense(config, h, i, None))?;
    variable_scope("output").enter(|_| -> Result<()> {
        dense(config, i, h, None)?;
        layer_norm(h)
    })
}

/// Builds BertModel and the pretraining heads into a new graph with `seed`, with the
/// encoder layers built on `workers` workers.
///
/// # Errors
/// Any error of the runtime or of a layer.
pub fn build_bert(config: &BertConfig, workers: usize, seed: u64) -> Result<Graph> {
    let graph = Graph::with_seed(seed);
    let runtime = Runtime::new(workers)?;
    let (h, init) = (config.hidden_size, create_initializer(config));
    let jobs: Vec<JobHandle<()>> = graph.as_default(|| {
        variable_scope("bert").enter(|_| -> Result<Vec<JobHandle<()>>> {
            variable_scope("embeddings").enter(|_| -> Result<()> {
                // embedding_lookup
                layers::embedding("word_embeddings", config.vocab_size, h)
                    .initializer(init.clone())
                    .build()?;
                // embedding_postprocessor
                layers::embedding("token_type_embeddings", config.type_vocab_size, h)
                    .initializer(init.clone())
                    .build()?;
                layers::embedding("position_embeddings", config.max_position_embeddings, h)
                    .initializer(init.clone())
                    .build()?;
                layer_norm(h)
            })?;
            // The encoder: one job per layer, each entering `layer_{i}` inside the
            // captured `bert/encoder` scope.
            let encoder = variable_scope("encoder").enter(|_| Context::capture())?;
            let jobs = (0..config.num_hidden_layers)
                .map(|i| {
                    let config = config.clone();
                    runtime.submit_in(&encoder, move || {
                        variable_scope(format!("layer_{i}")).enter(|_| encoder_layer(&config))
                    })
                })
                .collect();
            variable_scope("pooler").enter(|_| dense(config, h, h, None))?;
            Ok(jobs)
        })
    })?;
    let layers_built: Result<Vec<()>> = jobs.into_iter().map(JobHandle::join).collect();
    graph.as_default(|| -> Result<()> {
        // get_masked_lm_output
        variable_scope("cls/predictions").enter(|_| -> Result<()> {
            variable_scope("transform").enter(|_| -> Result<()> {
                dense(config, h, h, None)?;
                layer_norm(h)
            })?;
            varscope::get_variable("output_bias")
                .shape([config.vocab_size])
                .initializer(Init::zeros())
                .build()?;
            Ok(())
        })?;
        // get_next_sentence_output
        variable_scope("cls/seq_relationship").enter(|_| -> Result<()> {
            varscope::get_variable("output_weights")
                .shape([2, h])
                .initializer(init.clone())
                .build()?;
            varscope::get_variable("output_bias")
                .shape([2usize])
                .initializer(Init::zeros())
                .build()?;
            Ok(())
        })
    })?;
    layers_built?;
    runtime.shutdown()?;
    Ok(graph)
}

fn main() -> Result<()> {
    let workers = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let graph = build_bert(&BertConfig::base(), workers, 12345)?;
    let vars = graph.global_variables();
    let params: usize = vars.iter().map(|v| v.shape().num_elements()).sum();
    println!("{} variables, {params} parameters", vars.len());
    for v in &vars {
        println!("  {:<60} {:?}", v.op_name(), v.shape().dims());
    }
    Ok(())
}
