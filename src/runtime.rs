//! The actor runtime: [`Runtime`] and [`JobHandle`].

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::scope::{variable_scope, Context, VariableScope};
use crate::slot_map::panic_message;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle as ThreadHandle;

/// A type-erased job: runs the user's closure and sends its result.
type Task = Box<dyn FnOnce() + Send + 'static>;

/// A pool of worker actors that run graph-building jobs with per-job fresh scope
/// state. "How it works" below describes the design.
///
/// `Runtime` is `Send + Sync`: share it by reference (for example with
/// [`std::thread::scope`]) to submit from many threads.
///
/// # Examples
///
/// Jobs that build under a captured scope produce the same names whichever worker
/// runs them:
///
/// ```
/// use varscope::{get_variable, variable_scope, Graph, Reuse, Runtime};
///
/// let graph = Graph::with_seed(7);
/// let model = graph
///     .as_default(|| variable_scope("model").reuse(Reuse::Auto).enter(|s| s.clone()))
///     .unwrap();
///
/// let rt = Runtime::new(4).unwrap();
/// let handles: Vec<_> = (0..16)
///     .map(|_| rt.submit(&graph, Some(&model), || get_variable("w").shape([3usize]).build()))
///     .collect();
/// for h in handles {
///     assert_eq!(h.join().unwrap().name(), "model/w:0");
/// }
/// rt.shutdown().unwrap();
/// assert_eq!(graph.store().len(), 1); // created exactly once
/// ```
///
/// # How it works
///
///
///
/// A [`Runtime`] owns `N` worker threads (`varscope-worker-0` … `varscope-worker-{N-1}`).
/// Each worker is an *actor* that runs the jobs it takes one at a time, to
/// completion. All workers take jobs from one unbounded multi-consumer
/// [crossbeam-channel] queue:
///
/// ```text
///            submit()            one queue, FIFO         workers (actors)
///  caller ──▶ ──────────▶  [job][job][job]  ──▶ varscope-worker-0 ─┐
///  caller ──▶ ──────────▶                   ──▶ varscope-worker-1 ─┼─▶ JobHandle::join()
///                                           ──▶ varscope-worker-2 ─┘     (one-shot channel)
/// ```
///
/// * **Dispatch.** [`Runtime::submit`] appends the job to the queue; the next idle
///   worker takes it. So jobs start in submission order, no worker is idle while a
///   job waits, and a long job never strands the jobs queued behind it. Memory and
///   dispatch cost do not depend on the number of workers (the queue is one channel,
///   each idle worker parks on it once).
/// * **Results.** Every job has its own one-shot channel; [`JobHandle::join`] waits on
///   it. If a job is dropped without running, its sending half is dropped with it
///   and `join` returns [`Error::Job`] instead of hanging.
///
/// # Per-job isolation
///
/// TF1's scoping state — the variable-scope stack, the name-scope stack, the
/// default-name counters and the default-graph stack — is *thread-local*. A pool
/// thread that runs many jobs would otherwise leak that state from one job into the
/// next, and the names a job produces would depend on which worker ran it and on
/// what ran there before. Every job therefore runs as
///
/// ```text
/// graph.as_default(|| graph.with_fresh_thread_state(|| match scope {
///     Some(s) => variable_scope(s).enter(|_| job()),   // re-enter the captured scope
///     None => job(),                                   // start at the root scope
/// }))
/// ```
///
/// so a job sees exactly what a brand-new thread that made `graph` its default (and
/// re-entered `scope`) would see, and leaves nothing behind — not even when it
/// panics or leaks a scope guard with [`std::mem::forget`]. What a job shares with
/// other jobs is what any two threads share: the graph's variable store, its op-name
/// registry and its collections.
///
/// # Guarantees
///
/// * A job's `Err` is returned unchanged by [`JobHandle::join`].
/// * A panicking job is caught on the worker; `join` returns [`Error::Job`] carrying
///   the panic message, and the worker keeps serving later jobs.
/// * [`Runtime::shutdown`] stops accepting jobs (it consumes the runtime), runs every
///   job already submitted, and joins the workers. Dropping a runtime does the same.
/// * `join` never hangs on a job that can no longer run.
///
/// # Blocking inside jobs
///
/// Jobs run to completion on their worker. A job that blocks waiting for *another*
/// job of the same runtime (through its handle) occupies a worker while it waits;
/// with more such jobs than workers the runtime deadlocks, as any fixed-size pool
/// would. Submit follow-up work from the caller instead.
///
/// [crossbeam-channel]: https://docs.rs/crossbeam-channel
pub struct Runtime {
    /// The sending half of the queue (`None` once the runtime closes).
    queue: Option<Sender<Task>>,
    threads: Vec<Option<ThreadHandle<()>>>,
}

impl Runtime {
    /// The most workers a runtime may have. Each is an OS thread; far beyond this,
    /// the system's limits on memory mappings (about 17,000 threads on a Linux default
    /// of 65,530 mappings) make the standard library abort the process while starting
    /// a thread, which no error can report.
    pub const MAX_WORKERS: usize = 4096;
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queued = self.queue.as_ref().map_or(0, Sender::len);
        f.debug_struct("Runtime")
            .field("workers", &self.threads.len())
            .field("queued", &queued)
            .finish()
    }
}

impl Runtime {
    /// Starts a runtime with `workers` worker threads, named `varscope-worker-{i}`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `workers` is 0 or more than
    /// [`MAX_WORKERS`](Runtime::MAX_WORKERS); [`Error::Job`] when the
    /// operating system refuses to spawn a thread (the threads already started are
    /// stopped and joined).
    ///
    /// # Examples
    ///
    /// ```
    /// use varscope::Runtime;
    /// let rt = Runtime::new(2).unwrap();
    /// assert_eq!(rt.workers(), 2);
    /// assert!(Runtime::new(0).is_err());
    /// assert!(Runtime::new(Runtime::MAX_WORKERS + 1).is_err());
    /// ```
    pub fn new(workers: usize) -> Result<Runtime> {
        if workers == 0 {
            return Err(Error::invalid_arg(
                "a runtime needs at least one worker (got workers = 0)",
            ));
        }
        if workers > Runtime::MAX_WORKERS {
            return Err(Error::invalid_arg(format!(
                "a runtime has at most {} workers (got workers = {workers})",
                Runtime::MAX_WORKERS
            )));
        }
        let (sender, receiver) = crossbeam_channel::unbounded();
        let mut rt = Runtime {
            queue: Some(sender),
            threads: Vec::new(),
        };
        rt.threads
            .try_reserve_exact(workers)
            .map_err(|_| Error::Job {
                message: format!("cannot hold {workers} worker handles in memory"),
            })?;
        for index in 0..workers {
            let worker = Worker {
                queue: receiver.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("varscope-worker-{index}"))
                .spawn(move || worker.run());
            match spawned {
                Ok(handle) => rt.threads.push(Some(handle)),
                // Dropping `rt` closes the queue and joins the threads started so far.
                Err(e) => {
                    return Err(Error::Job {
                        message: format!("could not spawn varscope-worker-{index}: {e}"),
                    })
                }
            }
        }
        Ok(rt)
    }

    /// The number of worker threads.
    ///
    /// ```
    /// use varscope::Runtime;
    /// let rt = Runtime::new(3).unwrap();
    /// assert_eq!(rt.workers(), 3);
    /// assert!(Runtime::new(0).is_err());
    /// ```
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Queues `job` to run on a worker with `graph` as its default graph, on fresh
    /// thread-local scope state, inside `scope` when given (a captured
    /// [`VariableScope`], re-entered as `variable_scope(scope)` would), or at the root
    /// scope otherwise. Returns at once; [`JobHandle::join`] gives the result.
    ///
    /// The job joins the runtime's queue; the next idle worker runs it.
    ///
    /// # Examples
    ///
    /// A job's error comes back from `join`, a panic comes back as [`Error::Job`]:
    ///
    /// ```
    /// use varscope::{get_variable, Error, Graph, Reuse, Runtime, variable_scope};
    ///
    /// let graph = Graph::with_seed(1);
    /// let rt = Runtime::new(1).unwrap();
    /// let missing = rt.submit(&graph, None, || {
    ///     variable_scope("s").reuse(Reuse::Yes).enter(|_| get_variable("nope").build())
    /// });
    /// assert!(matches!(missing.join(), Err(Error::NotFound { .. })));
    ///
    /// let boom = rt.submit(&graph, None, || -> varscope::Result<()> { panic!("boom") });
    /// match boom.join() {
    ///     Err(Error::Job { message }) => assert!(message.contains("boom")),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// // The worker survived.
    /// assert_eq!(rt.submit(&graph, None, || Ok(2 + 2)).join().unwrap(), 4);
    /// ```
    pub fn submit<R, F>(&self, graph: &Graph, scope: Option<&VariableScope>, job: F) -> JobHandle<R>
    where
        F: FnOnce() -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let scope = scope.cloned();
        self.submit_in(&Context::root(graph), move || match &scope {
            Some(s) => variable_scope(s).enter(|_| job()),
            None => job(),
        })
    }

    /// Queues `job` to run on a worker inside `ctx` — its graph, variable scope, name
    /// scope and template call — as [`Context::run`] runs it. [`submit`] is this with
    /// the root context of a graph.
    ///
    /// [`submit`]: Runtime::submit
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Context, Graph, Runtime};
    ///
    /// let graph = Graph::with_seed(1);
    /// let rt = Runtime::new(2).unwrap();
    /// let ctx = graph.as_default(|| variable_scope("net").enter(|_| Context::capture())).unwrap();
    /// let h = rt.submit_in(&ctx, || get_variable("w").shape([2]).build());
    /// assert_eq!(h.join().unwrap().name(), "net/w:0");
    /// ```
    pub fn submit_in<R, F>(&self, ctx: &Context, job: F) -> JobHandle<R>
    where
        F: FnOnce() -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ctx = ctx.clone();
        let task: Task = Box::new(move || {
            let run = std::panic::AssertUnwindSafe(|| ctx.run(job));
            let result = std::panic::catch_unwind(run).unwrap_or_else(|payload| {
                Err(Error::Job {
                    message: panic_message(payload.as_ref()),
                })
            });
            // The handle may have been dropped: nobody wants the result then.
            let _ = tx.send(result);
        });
        if let Some(queue) = &self.queue {
            // Sending fails only when every worker is gone, which `&self` rules out
            // while the runtime is alive; dropping the task then drops `tx`, so `join`
            // reports the job as lost instead of hanging.
            let _ = queue.send(task);
        }
        JobHandle {
            rx,
            taken: AtomicBool::new(false),
        }
    }

    /// Stops accepting jobs, runs every job already submitted, and joins the workers.
    ///
    /// # Errors
    /// [`Error::Job`] if a worker thread died (jobs' own panics are caught and never
    /// kill a worker, so this indicates a bug).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use varscope::{Graph, Runtime};
    ///
    /// let graph = Graph::new();
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let rt = Runtime::new(2).unwrap();
    /// for _ in 0..10 {
    ///     let done = done.clone();
    ///     rt.submit(&graph, None, move || Ok(done.fetch_add(1, Ordering::SeqCst)));
    /// }
    /// rt.shutdown().unwrap(); // drains the queue first
    /// assert_eq!(done.load(Ordering::SeqCst), 10);
    /// ```
    pub fn shutdown(mut self) -> Result<()> {
        self.close_and_join()
    }

    fn close_and_join(&mut self) -> Result<()> {
        // Disconnecting the queue tells the workers to exit once it is empty.
        self.queue = None;
        let me = std::thread::current().id();
        let mut died = Vec::new();
        for (i, slot) in self.threads.iter_mut().enumerate() {
            let Some(handle) = slot.take() else { continue };
            if handle.thread().id() == me {
                // The last owner was dropped inside one of our own jobs: this worker
                // exits by itself when the job returns; joining it would deadlock.
                continue;
            }
            if handle.join().is_err() {
                died.push(i);
            }
        }
        if died.is_empty() {
            Ok(())
        } else {
            Err(Error::Job {
                message: format!("worker thread(s) {died:?} terminated abnormally"),
            })
        }
    }
}

impl Drop for Runtime {
    /// Stops accepting jobs, runs the jobs already submitted, and joins the workers
    /// (like [`Runtime::shutdown`], ignoring its error).
    fn drop(&mut self) {
        let _ = self.close_and_join();
    }
}

/// One actor: a receiving half of the shared queue.
struct Worker {
    queue: Receiver<Task>,
}

impl Worker {
    fn run(self) {
        // `recv` parks until a job arrives, and fails once the runtime has closed the
        // queue and it is empty. Tasks catch their own panics; see `Runtime::submit`.
        while let Ok(task) = self.queue.recv() {
            task();
        }
    }
}

/// The pending result of a job submitted with [`Runtime::submit`].
///
/// Dropping the handle does not cancel the job; its result is discarded.
///
/// ```
/// use varscope::{get_variable, Graph, JobHandle, Runtime};
/// let graph = Graph::with_seed(1);
/// let rt = Runtime::new(2).unwrap();
/// let jobs: Vec<JobHandle<String>> = (0..4)
///     .map(|i| rt.submit(&graph, None, move || {
///         get_variable(&format!("w{i}")).shape([1]).build().map(|v| v.name())
///     }))
///     .collect();
/// let names: Vec<String> = jobs.into_iter().map(|j| j.join().unwrap()).collect();
/// assert_eq!(names, ["w0:0", "w1:0", "w2:0", "w3:0"]);
/// ```
pub struct JobHandle<R> {
    rx: Receiver<Result<R>>,
    /// Set once the result was handed out: the worker may still hold its sender for
    /// a moment after sending, so the channel alone cannot tell.
    taken: AtomicBool,
}

impl<R> fmt::Debug for JobHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &!self.rx.is_empty())
            .finish()
    }
}

impl<R> JobHandle<R> {
    /// Waits for the job and returns its result.
    ///
    /// # Errors
    /// The job's own error; [`Error::Job`] with the panic message if the job
    /// panicked, or saying so if the job was dropped without running (or its result
    /// was already taken by [`try_join`](JobHandle::try_join)).
    ///
    /// ```
    /// use varscope::{variable_scope, Graph, Runtime};
    /// let graph = Graph::with_seed(1);
    /// let rt = Runtime::new(1).unwrap();
    /// let scope = graph.as_default(|| variable_scope("s").enter(|s| s.clone())).unwrap();
    /// // The job's own error comes back as is.
    /// let failed = rt.submit(&graph, Some(&scope), || varscope::get_variable("bad name").shape([1]).build());
    /// assert!(matches!(failed.join(), Err(varscope::Error::InvalidName { .. })));
    /// let ok = rt.submit(&graph, Some(&scope), || varscope::get_variable("w").shape([1]).build());
    /// assert_eq!(ok.join().unwrap().name(), "s/w:0");
    /// ```
    pub fn join(self) -> Result<R> {
        if self.taken.load(Ordering::Acquire) {
            return Err(lost());
        }
        self.rx.recv().unwrap_or_else(|_| Err(lost()))
    }

    /// The result if the job has finished, without waiting; `None` while it is queued
    /// or running.
    ///
    /// The result is handed out once: after `try_join` returned `Some`, further calls
    /// (and [`join`](JobHandle::join)) return [`Error::Job`].
    ///
    /// # Examples
    ///
    /// ```
    /// use varscope::{Graph, Runtime};
    /// let rt = Runtime::new(1).unwrap();
    /// let h = rt.submit(&Graph::new(), None, || Ok(5));
    /// let result = loop {
    ///     if let Some(r) = h.try_join() {
    ///         break r;
    ///     }
    ///     std::thread::yield_now();
    /// };
    /// assert_eq!(result.unwrap(), 5);
    /// ```
    pub fn try_join(&self) -> Option<Result<R>> {
        if self.taken.load(Ordering::Acquire) {
            return Some(Err(lost()));
        }
        match self.rx.try_recv() {
            Ok(r) => {
                self.taken.store(true, Ordering::Release);
                Some(r)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(lost())),
        }
    }
}

fn lost() -> Error {
    Error::Job {
        message: "the job did not run (its runtime stopped first) or its result was already taken"
            .to_string(),
    }
}
