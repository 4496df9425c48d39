//! Progress of long work through the event log (`projections rebuild`, `audit replay`): a bar
//! with rate and ETA when stderr is a terminal, else log lines (at the start, every few seconds,
//! at the end), so that a run in a pod's or CI's log shows that it moves and how far it has to go.
//!
//! Progress is measured in log positions, up to the head when the work started: a projection
//! reads only the events of its own categories, so the share of the log it has passed is what
//! says how much is left, while the rate counts the events it applied.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use store::Position;

/// How often a log line is written when there is no terminal to draw on.
const LOG_EVERY: Duration = Duration::from_secs(2);

const BAR_TEMPLATE: &str =
    "{prefix} [{wide_bar}] {percent:>3}% {msg}, {elapsed_precise} elapsed, ETA {eta}";

pub struct Progress {
    task: String,
    /// The log position the work has reached, and the one it goes to.
    position: u64,
    total: u64,
    applied: u64,
    started: Instant,
    show: Show,
}

enum Show {
    Bar(ProgressBar),
    Log(Throttle),
}

impl Progress {
    /// Starts reporting `task`, which goes through the log up to `head`.
    pub fn start(task: impl Into<String>, head: Option<&Position>) -> Self {
        let task = task.into();
        let total = head.map_or(0, commit);
        let started = Instant::now();
        let show = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total)
                .with_prefix(task.clone())
                .with_message(rate_text(0, Duration::ZERO));
            // The template is a constant; were it ever wrong, the default style still shows
            // the bar.
            if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
                bar.set_style(style.progress_chars("=> "));
            }
            Show::Bar(bar)
        } else {
            tracing::info!(task = %task, total, "started");
            Show::Log(Throttle::new(LOG_EVERY, started))
        };
        Progress {
            task,
            position: 0,
            total,
            applied: 0,
            started,
            show,
        }
    }

    /// A batch is done: the work has reached `at`, applying `events` events on the way.
    pub fn advance(&mut self, at: &Position, events: usize) {
        self.position = commit(at);
        self.applied += events as u64;
        // A service writing meanwhile moves the head on; the work follows it.
        self.total = self.total.max(self.position);
        let now = Instant::now();
        match &mut self.show {
            Show::Bar(bar) => {
                bar.set_length(self.total);
                bar.set_position(self.position);
                bar.set_message(rate_text(self.applied, now - self.started));
            }
            Show::Log(throttle) => {
                if throttle.due(now) {
                    self.log("progress", now);
                }
            }
        }
    }

    /// The work is done: the bar shows it complete, or a last log line says so.
    pub fn finish(mut self) {
        let now = Instant::now();
        self.position = self.total;
        match &self.show {
            Show::Bar(bar) => {
                bar.set_position(self.total);
                bar.finish_with_message(rate_text(self.applied, now - self.started));
            }
            Show::Log(_) => self.log("finished", now),
        }
    }

    fn log(&self, message: &str, now: Instant) {
        let elapsed = now - self.started;
        let percent = percent(self.position, self.total);
        let events_per_second = per_second(self.applied, elapsed).round() as u64;
        let eta_seconds = eta(self.position, self.total, elapsed).map(|d| d.as_secs());
        tracing::info!(
            task = %self.task,
            elapsed_ms = elapsed.as_millis() as u64,
            position = self.position,
            total = self.total,
            percent,
            events = self.applied,
            events_per_second,
            eta_seconds,
            "{message}"
        );
    }
}

/// The commit position is what orders the log on every backend: the sequence number on SQL
/// stores, the byte offset on EventStoreDB.
fn commit(p: &Position) -> u64 {
    p.commit_prepare().0
}

/// Decides when a log line is due: at most one per interval, so a fast replay does not flood
/// the log and a slow one still shows it moves.
struct Throttle {
    every: Duration,
    last: Instant,
}

impl Throttle {
    fn new(every: Duration, start: Instant) -> Self {
        Throttle { every, last: start }
    }

    fn due(&mut self, now: Instant) -> bool {
        let due = now.saturating_duration_since(self.last) >= self.every;
        if due {
            self.last = now;
        }
        due
    }
}

/// The bar's message: what the bar's own rate (log positions per second) does not say.
fn rate_text(applied: u64, elapsed: Duration) -> String {
    let rate = per_second(applied, elapsed);
    format!("{applied} events, {rate:.0} events/s")
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn percent(position: u64, total: u64) -> u64 {
    if total == 0 {
        100
    } else {
        (position.min(total) as u128 * 100 / total as u128) as u64
    }
}

/// The time left at the pace so far; none before there is a pace to go by.
fn eta(position: u64, total: u64, elapsed: Duration) -> Option<Duration> {
    if position == 0 {
        return None;
    }
    let left = total.saturating_sub(position) as f64;
    Some(elapsed.mul_f64(left / position as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_is_due_once_per_interval() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut throttle = Throttle::new(Duration::from_secs(2), start);
        assert!(!throttle.due(at(0)));
        assert!(!throttle.due(at(1_999)));
        assert!(throttle.due(at(2_000)));
        // The interval starts again at the line just written, not at the start.
        assert!(!throttle.due(at(2_500)));
        assert!(!throttle.due(at(3_999)));
        assert!(throttle.due(at(4_100)));
        // A long pause gives one line, not one per missed interval.
        assert!(throttle.due(at(20_000)));
        assert!(!throttle.due(at(20_001)));
        // A clock reading from before the last line is never due.
        assert!(!throttle.due(at(10_000)));
    }

    #[test]
    fn rate_share_and_time_left() {
        assert_eq!(per_second(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(per_second(500, Duration::ZERO), 0.0);
        assert_eq!(percent(0, 0), 100);
        assert_eq!(percent(25, 200), 12);
        assert_eq!(percent(300, 200), 100);
        assert_eq!(percent(u64::MAX / 2, u64::MAX), 49);
        assert_eq!(eta(0, 100, Duration::from_secs(5)), None);
        assert_eq!(
            eta(25, 100, Duration::from_secs(5)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(eta(100, 100, Duration::from_secs(5)), Some(Duration::ZERO));
    }
}

/// A bar (or log lines) for each projection `audit replay` goes through.
#[derive(Default)]
pub(crate) struct Bars(Option<Progress>);

impl projections::audit::Progress for Bars {
    fn start(&mut self, task: String, until: Option<&Position>) {
        self.0 = Some(Progress::start(task, until));
    }

    fn advance(&mut self, at: &Position, events: usize) {
        if let Some(progress) = &mut self.0 {
            progress.advance(at, events);
        }
    }

    fn finish(&mut self) {
        if let Some(progress) = self.0.take() {
            progress.finish();
        }
    }
}
