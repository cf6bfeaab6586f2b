//! A minimal actor runtime: a fixed pool of worker threads running jobs, each with
//! a graph as default, fresh thread-local scope state, and optionally inside a
//! captured variable scope.

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::scope::{variable_scope, VariableScope};
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use std::fmt;
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of worker threads that run jobs against a graph.
pub struct Runtime {
    sender: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.threads.len())
            .finish()
    }
}

impl Runtime {
    /// Starts `workers` worker threads.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for zero workers; [`Error::Job`] when a thread cannot
    /// be spawned.
    pub fn new(workers: usize) -> Result<Runtime> {
        if workers == 0 {
            return Err(Error::invalid_arg("a runtime needs at least one worker"));
        }
        let (sender, receiver) = unbounded::<Job>();
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let rx = receiver.clone();
            let t = std::thread::Builder::new()
                .name(format!("varscope-worker-{i}"))
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .map_err(|e| Error::Job {
                    message: format!("cannot spawn worker: {e}"),
                })?;
            threads.push(t);
        }
        Ok(Runtime {
            sender: Some(sender),
            threads,
        })
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Runs `job` on a worker with `graph` as its default graph, fresh scope state,
    /// and inside `scope` when given.
    pub fn submit<R, F>(&self, graph: &Graph, scope: Option<&VariableScope>, job: F) -> JobHandle<R>
    where
        R: Send + 'static,
        F: FnOnce() -> Result<R> + Send + 'static,
    {
        let (tx, rx) = bounded(1);
        let graph = graph.clone();
        let scope = scope.cloned();
        let wrapped: Job = Box::new(move || {
            let run = move || {
                graph.as_default(|| {
                    graph.with_fresh_thread_state(|| match &scope {
                        Some(s) => variable_scope(s).enter(|_| job()).and_then(|r| r),
                        None => job(),
                    })
                })
            };
            let out =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|p| {
                    let message = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "job panicked".to_string());
                    Err(Error::Job { message })
                });
            let _ = tx.send(out);
        });
        if let Some(s) = &self.sender {
            let _ = s.send(wrapped);
        }
        JobHandle { rx }
    }

    /// Stops the workers after the queued jobs have run.
    ///
    /// # Errors
    /// [`Error::Job`] when a worker thread panicked.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        self.sender = None;
        let mut result = Ok(());
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                result = Err(Error::Job {
                    message: "worker thread panicked".into(),
                });
            }
        }
        result
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The pending result of a submitted job.
pub struct JobHandle<R> {
    rx: Receiver<Result<R>>,
}

impl<R> fmt::Debug for JobHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JobHandle")
    }
}

impl<R> JobHandle<R> {
    /// Waits for the job and returns its result.
    ///
    /// # Errors
    /// The job's error, or [`Error::Job`] when it panicked or never ran.
    pub fn join(self) -> Result<R> {
        self.rx.recv().unwrap_or_else(|_| {
            Err(Error::Job {
                message: "job was dropped before it ran".into(),
            })
        })
    }
}
