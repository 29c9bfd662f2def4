//! What the harness binaries (`compare`, `compare churn`, `failover`)
//! share besides their lab: the repository's root, reading the command
//! line, the median, and threads that run until they are told to stop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The repository (the parent of `benches/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("benches/ has a parent").to_path_buf()
}

/// A command line, read one argument at a time; the options that take a
/// value read it with [`Argv::value`] and its typed forms.
pub struct Argv<I> {
    it: I,
}

impl<I: Iterator<Item = String>> Argv<I> {
    pub fn new(it: I) -> Argv<I> {
        Argv { it }
    }

    /// The value that follows option `name`.
    pub fn value(&mut self, name: &str) -> Result<String, String> {
        self.it.next().ok_or_else(|| format!("{name} needs a value"))
    }

    /// The value of `name`, a count.
    pub fn num(&mut self, name: &str) -> Result<usize, String> {
        num(&self.value(name)?, name)
    }

    /// The value of `name`, in seconds.
    pub fn secs(&mut self, name: &str) -> Result<Duration, String> {
        secs(&self.value(name)?, name)
    }

    /// The value of `name`, a path.
    pub fn path(&mut self, name: &str) -> Result<PathBuf, String> {
        self.value(name).map(PathBuf::from)
    }
}

impl<I: Iterator<Item = String>> Iterator for Argv<I> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.it.next()
    }
}

/// `s` as a count, for option `name`.
pub fn num(s: &str, name: &str) -> Result<usize, String> {
    s.parse::<usize>().map_err(|_| format!("{name}: not a number: {s}"))
}

/// `s` as a number of seconds, for option `name`.
pub fn secs(s: &str, name: &str) -> Result<Duration, String> {
    s.parse::<f64>().map(Duration::from_secs_f64).map_err(|_| format!("{name}: not a number of seconds: {s}"))
}

/// `--help`: prints the `//!` doc comment that opens `source` (the
/// harness's file, `include_str!`) and exits with status 0.
pub fn help(source: &str) -> ! {
    let doc = source.lines().take_while(|l| l.starts_with("//!"));
    println!("{}", doc.map(|l| l.trim_start_matches("//!").trim_start_matches(' ')).collect::<Vec<_>>().join("\n"));
    std::process::exit(0);
}

/// The median of `v` (the mean of the middle two for an even length), NaN
/// when empty.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// A thread that runs until it is told to stop (it polls the flag it is
/// given) and hands back its result. Dropped, it is stopped and joined.
pub struct Stoppable<T> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<T, String>>>,
    /// What it is, for the errors (`spawn WHAT`, `the WHAT thread panicked`).
    what: &'static str,
}

impl<T: Send + 'static> Stoppable<T> {
    /// Runs `f` on a thread named `name`, with the flag that asks it to
    /// stop.
    pub fn spawn(
        name: &str,
        what: &'static str,
        f: impl FnOnce(Arc<AtomicBool>) -> Result<T, String> + Send + 'static,
    ) -> Result<Stoppable<T>, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(s))
            .map_err(|e| format!("spawn {what}: {e}"))?;
        Ok(Stoppable { stop, thread: Some(thread), what })
    }

    /// Stops it: what it handed back.
    pub fn stop(mut self) -> Result<T, String> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take().expect("stopped once").join() {
            Ok(r) => r,
            Err(_) => Err(format!("the {} thread panicked", self.what)),
        }
    }
}

impl<T> Drop for Stoppable<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
