//! The actor runtime: [`Runtime`] and [`JobHandle`].

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::scope::{variable_scope, Context, VariableScope};
use crate::slot_map::panic_message;
use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle as ThreadHandle;

/// A type-erased job: runs the user's closure and sends its result.
type Task = Box<dyn FnOnce() + Send + 'static>;

/// What the workers share with the submitting side.
struct Shared {
    /// `busy[i]`: whether worker `i` is running a job right now (a dispatch hint).
    busy: Box<[AtomicBool]>,
}

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
/// Each worker is an *actor*: it owns an unbounded [crossbeam-channel] mailbox and
/// runs the jobs it receives one at a time, to completion.
///
/// ```text
///            submit()                      mailboxes            workers (actors)
///  caller ──▶ pick least-loaded ──▶ [job][job]      ──▶ varscope-worker-0 ─┐
///  caller ──▶ (ties: round-robin)   [job]           ──▶ varscope-worker-1 ─┼─▶ JobHandle::join()
///                                   [ ]  ◀── steal ──── varscope-worker-2 ─┘     (one-shot channel)
/// ```
///
/// * **Dispatch.** [`Runtime::submit`] sends the job to the *least-loaded* worker,
///   where a worker's load is the number of jobs waiting in its mailbox plus one if it
///   is running a job. Ties are broken round-robin, starting after the worker chosen
///   last, so an idle runtime spreads jobs evenly.
/// * **Work stealing.** A worker first drains its own mailbox. When that is empty it
///   takes a job from another worker's mailbox (crossbeam channels are multi-consumer,
///   so stealing is a plain `try_recv` on the other mailbox), and only then blocks,
///   waiting on all mailboxes at once. A long job therefore never strands the jobs
///   queued behind it while other workers are idle.
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
    /// Sending halves of the mailboxes (emptied when the runtime closes).
    senders: Vec<Sender<Task>>,
    threads: Vec<Option<ThreadHandle<()>>>,
    shared: Arc<Shared>,
    /// Where the next tie-break scan starts.
    cursor: AtomicUsize,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queued: Vec<usize> = self.senders.iter().map(Sender::len).collect();
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
    /// [`Error::InvalidArgument`] when `workers` is 0; [`Error::Job`] when the
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
    /// ```
    pub fn new(workers: usize) -> Result<Runtime> {
        if workers == 0 {
            return Err(Error::invalid_arg(
                "a runtime needs at least one worker (got workers = 0)",
            ));
        }
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| crossbeam_channel::unbounded()).unzip();
        let shared = Arc::new(Shared {
            busy: (0..workers).map(|_| AtomicBool::new(false)).collect(),
        });
        let mut rt = Runtime {
            senders,
            threads: Vec::with_capacity(workers),
            shared: shared.clone(),
            cursor: AtomicUsize::new(0),
        };
        for index in 0..workers {
            let worker = Worker {
                index,
                mailboxes: receivers.clone(),
                shared: shared.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("varscope-worker-{index}"))
                .spawn(move || worker.run());
            match spawned {
                Ok(handle) => rt.threads.push(Some(handle)),
                // Dropping `rt` closes the mailboxes and joins the threads started so far.
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
        self.senders.len()
    }

    /// Queues `job` to run on a worker with `graph` as its default graph, on fresh
    /// thread-local scope state, inside `scope` when given (a captured
    /// [`VariableScope`], re-entered as `variable_scope(scope)` would), or at the root
    /// scope otherwise. Returns at once; [`JobHandle::join`] gives the result.
    ///
    /// The job goes to the least-loaded worker (queued jobs plus the running one;
    /// ties round-robin); idle workers steal from busy ones.
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
        let target = self.pick_worker();
        if let Err(returned) = self.senders[target].send(task) {
            // Only possible if the worker's mailbox is gone, which `&self` rules out
            // while the runtime is alive; dropping the task drops `tx`, so `join`
            // reports the job as lost instead of hanging.
            drop(returned);
        }
        JobHandle {
            rx,
            taken: AtomicBool::new(false),
        }
    }

    /// The least-loaded worker, ties broken round-robin.
    fn pick_worker(&self) -> usize {
        let n = self.senders.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
        let mut best = start;
        let mut best_load = usize::MAX;
        for k in 0..n {
            let i = (start + k) % n;
            let load =
                self.senders[i].len() + usize::from(self.shared.busy[i].load(Ordering::Relaxed));
            if load < best_load {
                best = i;
                best_load = load;
                if load == 0 {
                    break;
                }
            }
        }
        best
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
        // Disconnecting the mailboxes tells the workers to exit once all are empty.
        self.senders.clear();
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

/// One actor: its index, every mailbox (its own first by index) and the shared hints.
struct Worker {
    index: usize,
    mailboxes: Vec<Receiver<Task>>,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(self) {
        let n = self.mailboxes.len();
        // Mailboxes whose sender is gone and which are empty.
        let mut closed = vec![false; n];
        loop {
            // Own mailbox first, then steal from the others in a fixed rotation.
            let mut task = None;
            for k in 0..n {
                let i = (self.index + k) % n;
                if closed[i] {
                    continue;
                }
                match self.mailboxes[i].try_recv() {
                    Ok(t) => {
                        task = Some(t);
                        break;
                    }
                    Err(TryRecvError::Disconnected) => closed[i] = true,
                    Err(TryRecvError::Empty) => {}
                }
            }
            if task.is_none() {
                // Block until any open mailbox has a job or disconnects.
                let open: Vec<usize> = (0..n).filter(|&i| !closed[i]).collect();
                if open.is_empty() {
                    return;
                }
                let mut sel = Select::new();
                for &i in &open {
                    sel.recv(&self.mailboxes[i]);
                }
                let op = sel.select();
                let i = open[op.index()];
                match op.recv(&self.mailboxes[i]) {
                    Ok(t) => task = Some(t),
                    Err(_) => closed[i] = true,
                }
            }
            if let Some(task) = task {
                self.shared.busy[self.index].store(true, Ordering::Relaxed);
                // Tasks catch their own panics; see `Runtime::submit`.
                task();
                self.shared.busy[self.index].store(false, Ordering::Relaxed);
            }
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
