//! `varscope`: build, initialize and checkpoint a model in parallel; inspect and
//! verify checkpoints.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use units::{format_bytes, group_digits};
use varscope::checkpoint::{load_safetensors, read_header};
use varscope::model::{build_model, expected_values, BuiltModel, ModelSpec, Summary};
use varscope::{Graph, Runtime};

// The library's number formatting, compiled into the binary too rather than exported.
#[path = "model/units.rs"]
mod units;

/// Builds, initializes and checkpoints TensorFlow-1-style models in parallel.
#[derive(Debug, Parser)]
#[command(name = "varscope", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a model from a spec (or the built-in default), initialize it and write a
    /// safetensors checkpoint.
    Build {
        /// The model spec (TOML; every key is described in src/doc_spec.md, the `spec_reference` page of the API docs); `default` or nothing for the built-in default model.
        spec: Option<PathBuf>,
        /// Runtime workers building scopes concurrently (default: number of CPUs).
        #[arg(long)]
        workers: Option<usize>,
        /// Threads initializing variables (default: number of CPUs).
        #[arg(long)]
        threads: Option<usize>,
        /// Graph seed (overrides the spec's).
        #[arg(long)]
        seed: Option<u64>,
        /// The checkpoint to write.
        #[arg(short, long, default_value = "model.safetensors")]
        output: PathBuf,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
        /// Also write the expected values of every tensor as JSON (for other readers).
        #[arg(long, value_name = "FILE")]
        dump_expected: Option<PathBuf>,
    },
    /// Print the summary of a checkpoint.
    Inspect {
        /// The checkpoint.
        file: PathBuf,
    },
    /// Rebuild a spec and check that a checkpoint matches it bit for bit.
    Verify {
        /// The model spec (TOML), or `default`.
        spec: PathBuf,
        /// The checkpoint.
        file: PathBuf,
        /// Graph seed (default: the spec's).
        #[arg(long)]
        seed: Option<u64>,
        /// Runtime workers.
        #[arg(long)]
        workers: Option<usize>,
        /// Initialization threads.
        #[arg(long)]
        threads: Option<usize>,
    },
}

/// A failure: the message and the exit code.
struct Failure(String, u8);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string(), 2)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build {
            spec,
            workers,
            threads,
            seed,
            output,
            quiet,
            dump_expected,
        } => build(
            spec.as_deref(),
            workers,
            threads,
            seed,
            &output,
            quiet,
            dump_expected.as_deref(),
        ),
        Command::Inspect { file } => inspect(&file),
        Command::Verify {
            spec,
            file,
            seed,
            workers,
            threads,
        } => verify(&spec, &file, seed, workers, threads),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg, code)) => {
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn load_spec(path: Option<&Path>) -> Result<ModelSpec, Failure> {
    match path {
        None => Ok(ModelSpec::default_spec()),
        Some(p) if p == Path::new("default") && !p.exists() => Ok(ModelSpec::default_spec()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Failure(format!("cannot read {}: {e}", p.display()), 2))?;
            ModelSpec::from_toml_str(&text)
                .map_err(|e| Failure(format!("invalid model spec {}: {e}", p.display()), 2))
        }
    }
}

fn gbps(bytes: u64, d: Duration) -> String {
    let s = d.as_secs_f64();
    if s <= 0.0 {
        return "-".into();
    }
    format!("{:.2} GB/s", bytes as f64 / s / 1e9)
}

/// Builds the spec and initializes every variable on a pool of `threads` threads.
fn build_and_init(
    spec: &ModelSpec,
    seed: u64,
    workers: usize,
    threads: usize,
    progress: bool,
) -> Result<(BuiltModel, Duration, Duration, u64), Failure> {
    let runtime = Runtime::new(workers)?;
    let graph = Graph::with_seed(seed);
    let t0 = Instant::now();
    let model = build_model(spec, &runtime, &graph)?;
    let build_time = t0.elapsed();
    runtime.shutdown()?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Failure(format!("cannot start {threads} threads: {e}"), 2))?;
    let total = model.nbytes();
    let bar = if progress && std::io::stderr().is_terminal() {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "initializing [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    } else {
        ProgressBar::hidden()
    };
    let t1 = Instant::now();
    let bytes = pool.install(|| model.initialize(|n| bar.inc(n)))?;
    let init_time = t1.elapsed();
    bar.finish_and_clear();
    Ok((model, build_time, init_time, bytes))
}

fn build(
    spec_path: Option<&Path>,
    workers: Option<usize>,
    threads: Option<usize>,
    seed: Option<u64>,
    output: &Path,
    quiet: bool,
    dump_expected: Option<&Path>,
) -> Result<(), Failure> {
    let spec = load_spec(spec_path)?;
    let seed = seed.unwrap_or(spec.seed);
    let workers = workers.unwrap_or_else(cpus);
    let threads = threads.unwrap_or_else(cpus);
    let (model, build_time, init_time, init_bytes) =
        build_and_init(&spec, seed, workers, threads, !quiet)?;
    print!("{}", model.summary().render());

    let metadata = model.checkpoint_metadata(&spec);
    let t2 = Instant::now();
    let written = model.save(output, &metadata)?;
    let write_time = t2.elapsed();
    if let Some(p) = dump_expected {
        let json = expected_values(&model)?;
        std::fs::write(p, serde_json::to_string_pretty(&json)?)
            .map_err(|e| Failure(format!("cannot write {}: {e}", p.display()), 2))?;
    }
    let bytes = model.nbytes();
    println!(
        "build: {:>8.3} s  {:>12}  ({} jobs on {workers} workers; declared bytes per second, values come next)",
        build_time.as_secs_f64(),
        gbps(bytes, build_time),
        model.jobs()
    );
    println!(
        "init:  {:>8.3} s  {:>12}  ({} on {threads} threads)",
        init_time.as_secs_f64(),
        gbps(init_bytes, init_time),
        format_bytes(init_bytes)
    );
    println!(
        "write: {:>8.3} s  {:>12}  ({}, {})",
        write_time.as_secs_f64(),
        gbps(written, write_time),
        output.display(),
        format_bytes(written)
    );
    println!("seed: {seed}");
    Ok(())
}

fn inspect(file: &Path) -> Result<(), Failure> {
    let header = read_header(file)?;
    let summary = Summary::from_header(&header)?;
    print!("{}", summary.render());
    println!(
        "file: {} ({})",
        file.display(),
        format_bytes(header.file_size)
    );
    for key in ["varscope.model", "varscope.seed", "varscope.spec_hash"] {
        if let Some(v) = header.metadata.get(key) {
            println!("{}: {v}", key.trim_start_matches("varscope."));
        }
    }
    Ok(())
}

fn verify(
    spec_path: &Path,
    file: &Path,
    seed: Option<u64>,
    workers: Option<usize>,
    threads: Option<usize>,
) -> Result<(), Failure> {
    let spec = load_spec(Some(spec_path))?;
    let seed = seed.unwrap_or(spec.seed);
    let ckpt = load_safetensors(file)?;
    if let Some(s) = ckpt.metadata.get("varscope.seed") {
        if *s != seed.to_string() {
            println!("note: the checkpoint was written with seed {s}; verifying with seed {seed}");
        }
    }
    let (model, ..) = build_and_init(
        &spec,
        seed,
        workers.unwrap_or_else(cpus),
        threads.unwrap_or_else(cpus),
        false,
    )?;
    let mut problems = Vec::new();
    let tensors = model.tensors();
    let mut matched = 0usize;
    for v in &tensors {
        let name = v.checkpoint_name();
        let Some(t) = ckpt.tensors.get(name) else {
            problems.push(format!("{name}: missing from the checkpoint"));
            continue;
        };
        if t.dtype() != v.dtype() || t.shape() != *v.shape() {
            problems.push(format!(
                "{name}: checkpoint has {} {}, the spec gives {} {}",
                t.dtype(),
                t.shape(),
                v.dtype(),
                v.shape()
            ));
            continue;
        }
        let differing = v.with_value(|mine| count_differences(mine, t))?;
        if differing == 0 {
            matched += 1;
        } else {
            problems.push(format!(
                "{name}: {} of {} elements differ",
                group_digits(differing as u64),
                group_digits(t.len() as u64)
            ));
        }
    }
    for name in ckpt.tensors.keys() {
        if !tensors.iter().any(|v| v.checkpoint_name() == name) {
            problems.push(format!("{name}: not in the model"));
        }
    }
    if problems.is_empty() {
        println!(
            "OK: all {} tensors ({} parameters) match bit for bit",
            tensors.len(),
            group_digits(model.param_count())
        );
        Ok(())
    } else {
        for p in problems.iter().take(50) {
            println!("MISMATCH {p}");
        }
        if problems.len() > 50 {
            println!("… and {} more", problems.len() - 50);
        }
        Err(Failure(
            format!(
                "{} does not match the spec: {} of {} tensors match, {} problems",
                file.display(),
                matched,
                tensors.len(),
                problems.len()
            ),
            1,
        ))
    }
}

/// Number of elements whose bytes differ (same dtype and shape assumed).
fn count_differences(a: &varscope::Tensor, b: &varscope::Tensor) -> usize {
    let (x, y) = (a.to_le_bytes(), b.to_le_bytes());
    let size = a.dtype().size();
    x.chunks(size)
        .zip(y.chunks(size))
        .filter(|(p, q)| p != q)
        .count()
}
