//! `varscope`: build, initialize and checkpoint a model in parallel; inspect and
//! verify checkpoints.

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use units::{format_bytes, group_digits};
use varscope::checkpoint::{
    bundle_index_path, bundle_part_path, merge_tf_bundle, remove_temp_files, save_safetensors_with,
    AnyCheckpoint, BundleWriter, StreamOptions, WriteOptions, PARTITION_METADATA_PREFIX,
};
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
        /// Print nothing but errors.
        #[arg(short, long, conflicts_with = "verbose")]
        quiet: bool,
        /// Print the full summary tree (repeated blocks are folded by default).
        #[arg(short, long)]
        verbose: bool,
        /// Memory for the buffers of values being initialized and written, in MiB
        /// (the build streams values through it).
        #[arg(long, value_name = "MIB", default_value_t = 256)]
        pool_mib: usize,
        /// Also write the expected values of every tensor as JSON (for other readers).
        #[arg(long, value_name = "FILE")]
        dump_expected: Option<PathBuf>,
        /// Checkpoint format (default: safetensors for a `.safetensors` name, else a TF
        /// bundle at prefix OUTPUT).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Data files of a TF bundle [default: 1].
        #[arg(long)]
        shards: Option<usize>,
        /// Write only data file I of a TF bundle of N data files (I from 0 to N-1) and
        /// its partial index PREFIX.index.part-0000I-of-0000N; `varscope merge OUTPUT`
        /// then writes the index once all N parts exist. An existing bundle at OUTPUT
        /// is refused (with --force, its index is removed).
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(usize, usize)>,
        /// After initializing, restore variables from this checkpoint (either format).
        #[arg(long, value_name = "CKPT")]
        init_from: Option<PathBuf>,
        /// With --init-from: an assignment `OLD=NEW` (checkpoint name or scope `old/`
        /// = variable name or scope `new/`), TF's init_from_checkpoint rules; repeat
        /// for several. Without any: every variable from its own name (`/=/`).
        #[arg(long, value_name = "OLD=NEW", requires = "init_from")]
        map: Vec<String>,
        /// Replace the output even when it is a symbolic link, FIFO or device node
        /// (the entry itself is replaced; a link is not followed).
        #[arg(long)]
        force: bool,
        /// Write through the page cache only (by default whole pages of a streamed
        /// write bypass it with direct I/O where the file system allows).
        #[arg(long)]
        buffered: bool,
    },
    /// Convert a checkpoint between safetensors and a TF bundle (either way;
    /// partitioned variables keep their layout).
    Convert {
        /// The checkpoint to read (either format, told apart by content).
        input: PathBuf,
        /// The checkpoint to write.
        output: PathBuf,
        /// Output format (default: safetensors for a `.safetensors` name, else a TF
        /// bundle at prefix OUTPUT).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Data files of a TF bundle.
        #[arg(long, default_value_t = 1)]
        shards: usize,
        /// Replace the output even when it is a symbolic link, FIFO or device node.
        #[arg(long)]
        force: bool,
    },
    /// Write the index of a TF bundle whose data files were written in parts
    /// (`build --shard I/N`), once all N parts exist; then remove the partial indices.
    Merge {
        /// The bundle's prefix (the `-o` of the builds).
        prefix: PathBuf,
        /// Replace an existing PREFIX.index (also when it is a symbolic link, FIFO or
        /// device node).
        #[arg(long)]
        force: bool,
        /// Print nothing but errors.
        #[arg(short, long)]
        quiet: bool,
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

/// A checkpoint format on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// TensorFlow's tensor bundle (`OUT.index`, `OUT.data-*`).
    Tf,
    /// A safetensors file.
    Safetensors,
}

impl Format {
    fn resolve(explicit: Option<Format>, output: &Path) -> Format {
        explicit.unwrap_or_else(|| {
            if output.extension().is_some_and(|e| e == "safetensors") {
                Format::Safetensors
            } else {
                Format::Tf
            }
        })
    }
}

/// Parses `--shard I/N`: `I` from 0 to `N - 1`, `N` from 1 to 99999.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let usage = || format!("expected I/N with 0 <= I < N <= 99999 (for example 0/8), not '{text}'");
    let (i, n) = text.split_once('/').ok_or_else(usage)?;
    let i: usize = i.trim().parse().map_err(|_| usage())?;
    let n: usize = n.trim().parse().map_err(|_| usage())?;
    if n == 0 || n > 99_999 || i >= n {
        return Err(usage());
    }
    Ok((i, n))
}

/// The data files of a TF build: how many, and the one this process writes
/// (`--shard`), if only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TfShards {
    num: usize,
    only: Option<usize>,
}

/// `--shard` needs a TF bundle and agrees with `--shards`.
fn check_shard_args(
    format: Option<Format>,
    output: &Path,
    shards: Option<usize>,
    shard: Option<(usize, usize)>,
) -> Result<TfShards, Failure> {
    let Some((i, n)) = shard else {
        return Ok(TfShards {
            num: shards.unwrap_or(1),
            only: None,
        });
    };
    if Format::resolve(format, output) != Format::Tf {
        return Err(Failure(
            "--shard writes one data file of a TF bundle: it needs --format tf".into(),
            2,
        ));
    }
    if let Some(s) = shards.filter(|&s| s != n) {
        return Err(Failure(
            format!("--shard {i}/{n} and --shards {s} give different numbers of data files"),
            2,
        ));
    }
    Ok(TfShards {
        num: n,
        only: Some(i),
    })
}

/// A failure: the message and the exit code.
struct Failure(String, u8);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string(), 2)
    }
}

/// Exit status after standard output was closed early (`varscope … | head -1`): what a
/// process killed by SIGPIPE reports, 128 + 13.
const BROKEN_PIPE_STATUS: u8 = 141;

/// The first error writing standard output; later output is dropped.
static STDOUT_ERROR: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes to standard output. A write error (a closed pipe) is remembered, later
/// output dropped, and the command carries on; `main` turns the error into the exit
/// status, so a reader that stops early never makes the command panic.
fn write_out(args: std::fmt::Arguments<'_>) {
    let mut err = STDOUT_ERROR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if err.is_none() {
        if let Err(e) = std::io::stdout().lock().write_fmt(args) {
            *err = Some(e);
        }
    }
}

macro_rules! out {
    ($($arg:tt)*) => { write_out(format_args!($($arg)*)) };
}

macro_rules! outln {
    ($($arg:tt)*) => { write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Set once a signal was received: the signal thread is removing temporary files and
/// then exits the process, and `main` must not exit first (a write it interrupted
/// fails, and that failure is not the command's exit status).
static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// On SIGINT, SIGTERM or SIGHUP: remove the temporary files of checkpoint writes in
/// progress, then exit with 128 + the signal number. (SIGKILL cannot be caught: the
/// next write to the same path removes what a killed write left.)
#[cfg(unix)]
fn install_signal_cleanup() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        // The default dispositions stay; the next write sweeps what they leave.
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                SIGNALLED.store(true, std::sync::atomic::Ordering::SeqCst);
                remove_temp_files();
                std::process::exit(128 + sig);
            }
        });
    drop(spawned);
}

#[cfg(not(unix))]
fn install_signal_cleanup() {}

fn main() -> ExitCode {
    install_signal_cleanup();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build {
            spec,
            workers,
            threads,
            seed,
            output,
            quiet,
            verbose,
            pool_mib,
            dump_expected,
            format,
            shards,
            shard,
            init_from,
            map,
            force,
            buffered,
        } => check_shard_args(format, &output, shards, shard).and_then(|layout| {
            build(
                spec.as_deref(),
                workers,
                threads,
                seed,
                &output,
                Verbosity::of(quiet, verbose),
                pool_mib,
                dump_expected.as_deref(),
                Format::resolve(format, &output),
                layout,
                init_from.as_deref().map(|p| (p, map.as_slice())),
                &WriteOptions::new().force(force).direct(!buffered),
            )
        }),
        Command::Merge {
            prefix,
            force,
            quiet,
        } => merge(&prefix, force, quiet),
        Command::Convert {
            input,
            output,
            format,
            shards,
            force,
        } => convert(
            &input,
            &output,
            Format::resolve(format, &output),
            shards,
            &WriteOptions::new().force(force),
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
    while SIGNALLED.load(std::sync::atomic::Ordering::SeqCst) {
        // The signal thread ends the process.
        std::thread::park();
    }
    let flushed = std::io::stdout().flush();
    let stdout_error = STDOUT_ERROR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .or(flushed.err());
    match (result, stdout_error) {
        (Err(Failure(msg, code)), _) => {
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
        (Ok(()), None) => ExitCode::SUCCESS,
        (Ok(()), Some(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(BROKEN_PIPE_STATUS)
        }
        (Ok(()), Some(e)) => {
            eprintln!("error: cannot write to standard output: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--threads 0` is rejected as `--workers 0` is (rayon would read 0 as "default").
fn check_threads(threads: Option<usize>) -> Result<(), Failure> {
    if threads == Some(0) {
        return Err(Failure(
            "initialization needs at least one thread (got --threads 0)".into(),
            2,
        ));
    }
    Ok(())
}

/// What a file that is not a regular file is.
fn file_type_name(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        return "directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let unix_types = [
            (t.is_fifo(), "FIFO"),
            (t.is_char_device(), "character device"),
            (t.is_block_device(), "block device"),
            (t.is_socket(), "socket"),
        ];
        if let Some((_, name)) = unix_types.into_iter().find(|(is, _)| *is) {
            return name;
        }
    }
    "special file"
}

/// A checkpoint to read must be a regular file (a link to one is fine): opening a FIFO
/// with no writer would block, and a directory is no checkpoint. A path that cannot be
/// examined is left for the reader to report.
fn check_readable_checkpoint(file: &Path) -> Result<(), Failure> {
    match std::fs::metadata(file) {
        Ok(m) if !m.is_file() => Err(Failure(
            format!(
                "{}: is a {}, not a checkpoint file",
                file.display(),
                file_type_name(m.file_type())
            ),
            2,
        )),
        _ => Ok(()),
    }
}

/// Checks before building that the checkpoint can be written, so a model is not built
/// and initialized for nothing: the directory exists (reported by the path given) and
/// the target may be replaced.
fn check_output(output: &Path, options: &WriteOptions) -> Result<(), Failure> {
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(Failure(
                format!(
                    "cannot write {}: the directory {} does not exist",
                    output.display(),
                    dir.display()
                ),
                2,
            ));
        }
    }
    options.check_target(output).map_err(write_failure)
}

/// The file a write of `format` to `output` replaces last: the file itself, or a TF
/// bundle's index.
fn output_target(output: &Path, format: Format) -> PathBuf {
    match format {
        Format::Safetensors => output.to_path_buf(),
        Format::Tf => bundle_index_path(output),
    }
}

/// The file a build replaces last: [`output_target`], or the partial index of a
/// `--shard` build.
fn build_target(output: &Path, format: Format, tf: TfShards) -> PathBuf {
    match (format, tf.only) {
        (Format::Tf, Some(i)) => bundle_part_path(output, i, tf.num),
        _ => output_target(output, format),
    }
}

/// A write error; a refusal to replace a non-regular file says how to force it.
fn write_failure(e: varscope::Error) -> Failure {
    match e {
        varscope::Error::NotRegularFile { file_type, .. } if file_type != "directory" => {
            Failure(format!("{e} (pass --force to replace it)"), 2)
        }
        e => e.into(),
    }
}

/// How much the build prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verbosity {
    /// Nothing but errors.
    Quiet,
    /// The folded summary, the timings and a progress bar on a terminal.
    Normal,
    /// The full summary tree too.
    Verbose,
}

impl Verbosity {
    fn of(quiet: bool, verbose: bool) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, true) => Verbosity::Verbose,
            (false, false) => Verbosity::Normal,
        }
    }
}

/// A progress bar over `total` bytes on standard error, hidden unless it is a terminal
/// (and `show`).
fn progress_bar(show: bool, total: u64, what: &str) -> ProgressBar {
    if !(show && std::io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!(
        "{what} [{{bar:40}}] {{decimal_bytes}}/{{decimal_total_bytes}} {{decimal_bytes_per_sec}} eta {{eta}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        b.set_style(style.progress_chars("=> "));
    }
    b
}

fn rayon_pool(threads: usize) -> Result<rayon::ThreadPool, Failure> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Failure(format!("cannot start {threads} threads: {e}"), 2))
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

#[allow(clippy::too_many_arguments)] // one per command-line option
fn build(
    spec_path: Option<&Path>,
    workers: Option<usize>,
    threads: Option<usize>,
    seed: Option<u64>,
    output: &Path,
    verbosity: Verbosity,
    pool_mib: usize,
    dump_expected: Option<&Path>,
    format: Format,
    tf: TfShards,
    init_from: Option<(&Path, &[String])>,
    options: &WriteOptions,
) -> Result<(), Failure> {
    check_threads(threads)?;
    check_output(&build_target(output, format, tf), options)?;
    if format == Format::Tf && tf.only.is_some() && !options.is_force() {
        let index = bundle_index_path(output);
        if std::fs::symlink_metadata(&index).is_ok() {
            return Err(Failure(
                format!(
                    "{} exists: a bundle is already at {}, and replacing one of its data files \
                     would leave it inconsistent (remove it, or pass --force to remove its index first)",
                    index.display(),
                    output.display()
                ),
                2,
            ));
        }
    }
    let spec = load_spec(spec_path)?;
    let seed = seed.unwrap_or(spec.seed);
    let workers = workers.unwrap_or_else(cpus);
    let threads = threads.unwrap_or_else(cpus);
    build_streamed(
        &spec,
        seed,
        workers,
        threads,
        output,
        verbosity,
        pool_mib,
        dump_expected,
        format,
        tf,
        init_from,
        options,
    )
}

fn print_summary(model: &BuiltModel, verbosity: Verbosity) {
    match verbosity {
        Verbosity::Quiet => {}
        Verbosity::Normal => out!("{}", model.summary().render_folded()),
        Verbosity::Verbose => out!("{}", model.summary().render()),
    }
}

fn write_expected(model: &BuiltModel, p: &Path) -> Result<(), Failure> {
    let json = expected_values(model)?;
    std::fs::write(p, serde_json::to_string_pretty(&json)?)
        .map_err(|e| Failure(format!("cannot write {}: {e}", p.display()), 2))
}

/// The build: the model's values (after `--init-from` restored some) are initialized piece by piece
/// and written as they are produced, through a pool of `pool_mib` MiB, into a
/// safetensors file or every data file of a TF bundle (with `--shard`: one data file
/// and its partial index).
#[allow(clippy::too_many_arguments)] // one per command-line option
fn build_streamed(
    spec: &ModelSpec,
    seed: u64,
    workers: usize,
    threads: usize,
    output: &Path,
    verbosity: Verbosity,
    pool_mib: usize,
    dump_expected: Option<&Path>,
    format: Format,
    tf: TfShards,
    init_from: Option<(&Path, &[String])>,
    options: &WriteOptions,
) -> Result<(), Failure> {
    let quiet = verbosity == Verbosity::Quiet;
    let runtime = Runtime::new(workers)?;
    let graph = Graph::with_seed(seed);
    let t0 = Instant::now();
    let model = build_model(spec, &runtime, &graph)?;
    let build_time = t0.elapsed();
    runtime.shutdown()?;
    print_summary(&model, verbosity);
    if let Some((ckpt, map)) = init_from {
        // Restored values go straight into their (still pending) variables; the
        // others are initialized piece by piece as they are written.
        let mut pairs = Vec::new();
        for m in map {
            let (old, new) = m
                .split_once('=')
                .ok_or_else(|| Failure(format!("--map {m}: expected OLD=NEW"), 2))?;
            pairs.push((old.to_string(), new.to_string()));
        }
        if pairs.is_empty() {
            pairs.push(("/".to_string(), "/".to_string()));
        }
        let source = AnyCheckpoint::open(ckpt)?;
        let report = varscope::restore::init_from_checkpoint_in(model.graph(), &source, pairs)
            .map_err(|e| Failure(format!("--init-from {}: {e}", ckpt.display()), 2))?;
        if !quiet {
            outln!(
                "init-from: {} tensors ({}) restored from {}",
                report.restored.len(),
                format_bytes(report.bytes),
                ckpt.display()
            );
        }
    }
    let stream = StreamOptions::new()
        .pool_bytes(pool_mib.saturating_mul(1 << 20))
        .write_options(options.clone());
    let pool = rayon_pool(threads)?;
    let nbytes = match (format, tf.only) {
        (Format::Tf, Some(i)) => {
            let layout = model.tf_bundle_layout(tf.num).map_err(write_failure)?;
            layout.shard_sizes().get(i).copied().unwrap_or(0)
        }
        _ => model.nbytes(),
    };
    let bar = progress_bar(!quiet, nbytes, "init+write");
    let progress = |n| bar.inc(n);
    let stats = pool
        .install(|| match (format, tf.only) {
            (Format::Safetensors, _) => {
                let metadata = model.checkpoint_metadata(spec);
                model.save_streamed(output, &metadata, &stream, &progress)
            }
            (Format::Tf, None) => model.save_tf_bundle_streamed(output, tf.num, &stream, &progress),
            (Format::Tf, Some(i)) => {
                let mut source = model.tf_part_source(spec);
                if let Some((p, m)) = init_from {
                    source = format!("{source} init-from {} {m:?}", p.display());
                }
                model.save_tf_bundle_part(output, i, tf.num, &source, &stream, &progress)
            }
        })
        .map_err(write_failure)?;
    bar.finish_and_clear();
    if let Some(p) = dump_expected {
        write_expected(&model, p)?;
    }
    if quiet {
        return Ok(());
    }
    let what = match (format, tf.only) {
        (Format::Safetensors, _) => output.display().to_string(),
        (Format::Tf, None) => format!("{}.*, {} data files", output.display(), tf.num),
        (Format::Tf, Some(i)) => format!(
            "{} and {}",
            varscope::checkpoint::bundle_data_path(output, i, tf.num).display(),
            bundle_part_path(output, i, tf.num).display()
        ),
    };
    let total = stats.stream_time + stats.commit_time;
    outln!(
        "build: {:>8.3} s  ({} jobs on {workers} workers)",
        build_time.as_secs_f64(),
        model.jobs()
    );
    outln!(
        "init:  {:>8.3} s  {:>12}  ({} on {threads} threads, overlapped with writing)",
        stats.fill_time.as_secs_f64(),
        gbps(nbytes, stats.fill_time),
        format_bytes(nbytes)
    );
    outln!(
        "write: {:>8.3} s  {:>12}  ({what}, {}; {} buffer{} of {}; {})",
        stats.write_time.as_secs_f64(),
        gbps(stats.bytes, stats.write_time),
        format_bytes(stats.bytes),
        stats.buffers_allocated,
        if stats.buffers_allocated == 1 {
            ""
        } else {
            "s"
        },
        format_bytes(stats.buffer_bytes as u64),
        if stats.direct_bytes > 0 {
            format!("{} of it direct I/O", format_bytes(stats.direct_bytes))
        } else {
            "through the page cache".to_string()
        }
    );
    // Time both phases were busy at once: what overlapping them saved.
    let overlap = (stats.fill_time + stats.write_time).saturating_sub(stats.stream_time);
    outln!(
        "init+write: {:>8.3} s  {:>12}  ({:.3} s of init and write overlapped; {:.3} s of it the final sync)",
        total.as_secs_f64(),
        gbps(stats.bytes, total),
        overlap.as_secs_f64(),
        stats.commit_time.as_secs_f64()
    );
    if let Some(i) = tf.only {
        outln!(
            "part {i} of {}: run `varscope merge {}` once all {} parts are written",
            tf.num,
            output.display(),
            tf.num
        );
    }
    outln!("seed: {seed}");
    Ok(())
}

/// `varscope merge`: the index of a bundle written in parts.
fn merge(prefix: &Path, force: bool, quiet: bool) -> Result<(), Failure> {
    let t0 = Instant::now();
    let report =
        merge_tf_bundle(prefix, force, &WriteOptions::new().force(force)).map_err(write_failure)?;
    if !quiet {
        outln!(
            "merge: {:>8.3} s  ({}: {} entries over {} data files, {}; the partial indices were removed)",
            t0.elapsed().as_secs_f64(),
            bundle_index_path(prefix).display(),
            group_digits(report.entries as u64),
            report.num_shards,
            format_bytes(report.data_bytes + report.index_bytes)
        );
    }
    Ok(())
}

fn convert(
    input: &Path,
    output: &Path,
    format: Format,
    shards: usize,
    options: &WriteOptions,
) -> Result<(), Failure> {
    check_readable_checkpoint(input)?;
    check_output(&output_target(output, format), options)?;
    let src = AnyCheckpoint::open(input)?;
    let t0 = Instant::now();
    let written = match format {
        Format::Safetensors => {
            let ckpt = src.load()?;
            save_safetensors_with(
                output,
                ckpt.tensors.iter().map(|(n, t)| (n.clone(), t)),
                &ckpt.metadata,
                options,
            )
            .map_err(write_failure)?
        }
        Format::Tf => {
            let dropped = src
                .metadata()
                .keys()
                .filter(|k| !k.starts_with(PARTITION_METADATA_PREFIX))
                .count();
            if dropped > 0 {
                outln!("note: a TF bundle has no metadata map; {dropped} metadata entries are not carried over");
            }
            let mut w =
                BundleWriter::with_options(output, shards, options).map_err(write_failure)?;
            for (name, e) in src.entries()? {
                if e.slices.is_empty() {
                    w.add(&name, &src.read(&name)?)?;
                } else {
                    for s in &e.slices {
                        w.add_slice(&name, &e.shape, &s.offset, &src.read_slice(&name, s)?)?;
                    }
                }
            }
            w.finish().map_err(write_failure)?
        }
    };
    let time = t0.elapsed();
    outln!(
        "convert: {:>8.3} s  {:>12}  ({} -> {}, {})",
        time.as_secs_f64(),
        gbps(written, time),
        input.display(),
        output.display(),
        format_bytes(written)
    );
    Ok(())
}

fn inspect(file: &Path) -> Result<(), Failure> {
    check_readable_checkpoint(file)?;
    let ckpt = AnyCheckpoint::open(file)?;
    let header = ckpt.header();
    let summary = Summary::from_header(&header)?;
    out!("{}", summary.render());
    outln!(
        "file: {} ({})",
        file.display(),
        format_bytes(header.file_size)
    );
    match &ckpt {
        AnyCheckpoint::Bundle(b) => outln!("format: TF bundle ({} data shards)", b.num_shards()),
        _ => outln!("format: safetensors"),
    }
    for key in ["varscope.model", "varscope.seed", "varscope.spec_hash"] {
        if let Some(v) = header.metadata.get(key) {
            outln!("{}: {v}", key.trim_start_matches("varscope."));
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
    check_threads(threads)?;
    check_readable_checkpoint(file)?;
    let spec = load_spec(Some(spec_path))?;
    let seed = seed.unwrap_or(spec.seed);
    let opened = AnyCheckpoint::open(file)?;
    let written_seed = opened.metadata().get("varscope.seed").cloned();
    verify_streamed(&spec, file, &opened, seed, written_seed, workers, threads)
}

/// `verify` of a safetensors file or TF bundle: recomputed and compared piece by piece
/// with positioned reads, in bounded memory.
fn verify_streamed(
    spec: &ModelSpec,
    file: &Path,
    opened: &AnyCheckpoint,
    seed: u64,
    written_seed: Option<String>,
    workers: Option<usize>,
    threads: Option<usize>,
) -> Result<(), Failure> {
    if let Some(s) = written_seed {
        if s != seed.to_string() {
            outln!("note: the checkpoint was written with seed {s}; verifying with seed {seed}");
        }
    }
    let runtime = Runtime::new(workers.unwrap_or_else(cpus))?;
    let model = build_model(spec, &runtime, &Graph::with_seed(seed))?;
    runtime.shutdown()?;
    let threads = threads.unwrap_or_else(cpus);
    let pool = rayon_pool(threads)?;
    let bar = progress_bar(true, model.nbytes(), "verifying");
    let t0 = Instant::now();
    let report = pool.install(|| model.verify_checkpoint(opened, 4 << 20, &|n| bar.inc(n)))?;
    let time = t0.elapsed();
    bar.finish_and_clear();
    outln!(
        "verify: {:>8.3} s  {:>12}  ({}, {} read and recomputed on {threads} threads)",
        time.as_secs_f64(),
        gbps(report.bytes, time),
        file.display(),
        format_bytes(report.bytes)
    );
    if report.problems.is_empty() {
        outln!(
            "OK: all {} tensors ({} parameters) match bit for bit",
            report.tensors,
            group_digits(model.param_count())
        );
        return Ok(());
    }
    for p in report.problems.iter().take(50) {
        outln!("MISMATCH {p}");
    }
    if report.problems.len() > 50 {
        outln!("… and {} more", report.problems.len() - 50);
    }
    Err(Failure(
        format!(
            "{} does not match the spec: {} of {} tensors match, {} problems",
            file.display(),
            report.matched,
            report.tensors,
            report.problems.len()
        ),
        1,
    ))
}
