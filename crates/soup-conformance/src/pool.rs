//! A bounded pool of worker threads running cells, with live progress on stderr: a status
//! line redrawn in place on a terminal (counts and the cells running now), one plain line per
//! finished cell otherwise (CI logs).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// Progress event from a worker.
enum Event<R> {
    Started(usize),
    Finished(usize, R),
}

/// Runs `work` over `items` on `jobs` threads; results come back in input order.
/// `label` names an item, `symbol` tags a result (`✓`, `✗`, ...) for the progress display.
pub fn run_all<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    label: impl Fn(&T) -> String,
    symbol: impl Fn(&R) -> &'static str,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Event<R>>();
    let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let _ = tx.send(Event::Started(i));
                    let _ = tx.send(Event::Finished(i, work(item)));
                }
            });
        }
        drop(tx);
        let mut running: BTreeMap<usize, String> = BTreeMap::new();
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut done = 0;
        for event in rx {
            match event {
                Event::Started(i) => {
                    running.insert(i, label(&items[i]));
                }
                Event::Finished(i, result) => {
                    running.remove(&i);
                    done += 1;
                    let sym = symbol(&result);
                    *counts.entry(sym).or_default() += 1;
                    if !tty {
                        eprintln!("[{done}/{}] {sym} {}", items.len(), label(&items[i]));
                    }
                    results[i] = Some(result);
                }
            }
            if tty {
                let tally: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
                let now: Vec<&str> = running.values().map(String::as_str).collect();
                let mut line = format!(
                    "[{done}/{}] {:>5.1}s  {}  running: {}",
                    items.len(),
                    started.elapsed().as_secs_f64(),
                    tally.join("  "),
                    now.join(", ")
                );
                truncate_chars(&mut line, 200);
                eprint!("\r\x1b[2K{line}");
                let _ = std::io::stderr().flush();
            }
        }
        if tty {
            eprintln!();
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

fn truncate_chars(s: &mut String, max: usize) {
    if let Some((byte, _)) = s.char_indices().nth(max) {
        s.truncate(byte);
    }
}
