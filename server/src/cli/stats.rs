//! `volatile scan --stats`: where the time went, and what the prefilter saved.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use volatile_engine::analyze::{FileAnalysis, RuleSet};
use volatile_grammars::Lang;

/// How many of the slowest rules to list.
const SLOWEST: usize = 10;

/// Counts and times summed over a scan's files.
#[derive(Debug, Default)]
pub(super) struct ScanStats {
    files: u64,
    bytes: u64,
    parsed: u64,
    /// Bytes of the files parsed.
    parsed_bytes: u64,
    /// Files of a language with rules that were not parsed: no rule's literals in them.
    not_parsed: u64,
    errors: u64,
    read: Duration,
    parse: Duration,
    matching: Duration,
    rules_run: u64,
    rules_prefiltered: u64,
    rule_times: HashMap<(Lang, usize), Duration>,
}

impl ScanStats {
    /// Adds one file: its analysis (`None` when it was not analysed) and whether it
    /// ended in an error.
    pub(super) fn add(
        &mut self,
        lang: Lang,
        bytes: u64,
        read: Duration,
        failed: bool,
        result: Option<&FileAnalysis>,
    ) {
        self.files += 1;
        self.bytes += bytes;
        self.read += read;
        self.errors += u64::from(failed);
        let Some(r) = result else {
            return;
        };
        if r.parsed {
            self.parsed += 1;
            self.parsed_bytes += bytes;
        } else if !failed {
            self.not_parsed += 1;
        }
        self.parse += r.parse_time;
        self.matching += r.match_time;
        self.rules_run += r.rules_run as u64;
        self.rules_prefiltered += r.rules_prefiltered as u64;
        for &(i, t) in &r.rule_times {
            *self.rule_times.entry((lang, i)).or_default() += t;
        }
    }

    /// Adds the counts and times of another part of the same scan.
    pub(super) fn merge(&mut self, other: ScanStats) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.parsed += other.parsed;
        self.parsed_bytes += other.parsed_bytes;
        self.not_parsed += other.not_parsed;
        self.errors += other.errors;
        self.read += other.read;
        self.parse += other.parse;
        self.matching += other.matching;
        self.rules_run += other.rules_run;
        self.rules_prefiltered += other.rules_prefiltered;
        for (rule, time) in other.rule_times {
            *self.rule_times.entry(rule).or_default() += time;
        }
    }

    /// Files counted.
    pub(super) fn files(&self) -> u64 {
        self.files
    }

    /// Bytes of source counted.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Parse time summed over files.
    pub(super) fn parse(&self) -> Duration {
        self.parse
    }

    /// Match time summed over files.
    pub(super) fn matching(&self) -> Duration {
        self.matching
    }

    /// The report, for a human.
    pub(super) fn render(&self, set: &RuleSet, wall: Duration, threads: usize) -> String {
        let mut out = String::new();
        let secs = |d: Duration| d.as_secs_f64();
        let pct = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                100.0 * part as f64 / whole as f64
            }
        };
        let rule_count: usize = set.languages().iter().map(|&l| set.rules(l).len()).sum();
        let _ = writeln!(out, "scan statistics");
        let _ = writeln!(
            out,
            "  files      {} ({:.1} MB): {} parsed, {} not parsed (no rule's literals in them, {:.1}%), {} with errors",
            self.files,
            self.bytes as f64 / 1e6,
            self.parsed,
            self.not_parsed,
            pct(self.not_parsed, self.files),
            self.errors
        );
        // Files that are not parsed cost only the literal scan, so a scan can be at most
        // this many times faster than parsing everything.
        let _ = writeln!(
            out,
            "  parsed     {:.1} MB of {:.1} MB ({:.1}%): at best {:.2} x the throughput of parsing every file",
            self.parsed_bytes as f64 / 1e6,
            self.bytes as f64 / 1e6,
            pct(self.parsed_bytes, self.bytes),
            self.bytes as f64 / self.parsed_bytes.max(1) as f64,
        );
        let considered = self.rules_run + self.rules_prefiltered;
        let _ = writeln!(
            out,
            "  rules      {rule_count} (rule x language); of {considered} rule runs on files, the prefilter skipped {} ({:.1}%)",
            self.rules_prefiltered,
            pct(self.rules_prefiltered, considered)
        );
        let cpu = self.read + self.parse + self.matching;
        let _ = writeln!(
            out,
            "  time       {:.2} s wall on {threads} thread(s); summed over threads: read {:.2} s, parse {:.2} s, match {:.2} s",
            secs(wall),
            secs(self.read),
            secs(self.parse),
            secs(self.matching),
        );
        if cpu > Duration::ZERO && self.parse > Duration::ZERO {
            let _ = writeln!(
                out,
                "  throughput {:.1} MB/s; match time is {:.0}% of parse time",
                self.bytes as f64 / 1e6 / secs(wall).max(1e-9),
                100.0 * secs(self.matching) / secs(self.parse)
            );
        }
        let mut slowest: Vec<(&(Lang, usize), &Duration)> = self.rule_times.iter().collect();
        slowest.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        if !slowest.is_empty() {
            let _ = writeln!(
                out,
                "  slowest rules (match time summed over files; timing adds overhead):"
            );
        }
        for ((lang, i), t) in slowest.into_iter().take(SLOWEST) {
            let Some(active) = set.rules(*lang).get(*i) else {
                continue;
            };
            let _ = writeln!(
                out,
                "    {:>9.3} s  {}/{} ({lang})",
                secs(*t),
                active.rule.playbook,
                active.rule.id
            );
        }
        out
    }
}
