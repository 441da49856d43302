//! Every occurrence of a set of literals in a text, ignoring ASCII case: the prefilter's
//! one pass over each file.
//!
//! An Aho-Corasick DFA takes one table lookup per byte, and each lookup needs the state the
//! previous one gave: a single pass runs at the latency of those dependent loads (1.7 ns a
//! byte over the TypeScript corpus's JavaScript with the example playbook's 273 literals,
//! whether it holds 10 literals or 273). So the text is cut into four parts and one loop
//! steps four independent runs of the same DFA, one per part, whose lookups overlap:
//! 0.7 ns a byte, the same occurrences (criterion `*-literals`: 2.2-2.4 x the one run's
//! throughput; `benches/README.md`). Each run starts the longest
//! literal's length, less one, before its part, so that an occurrence straddling two
//! parts is seen whole by the run of the part it ends in, and a run reports only what
//! ends in its own part: every occurrence is reported exactly once.
//!
//! A DFA, because every file of a language is scanned, so the scan's speed matters more
//! than the automaton's size: even as one run it found the example playbooks' literals
//! 2.2 x faster than `aho-corasick`'s default contiguous NFA (0.44 s against 0.99 s over
//! the Python corpus), at 0.7 MB for 222 literals, 12 MB for 3,488 and 18.5 MB for the
//! 5,782 of the 1,000 generated rules (laned, 0.53 s over the Python corpus against the
//! NFA's 1.10 s; built in 0.07 s against 0.02 s). Past [`MAX_DFA_LITERALS`] literals its
//! memory stops paying for itself and the search falls back to `aho-corasick`'s own
//! overlapping search over that NFA.

use std::ops::ControlFlow;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, MatchKind, StartKind};

/// Up to this many literals the search is a DFA (about 3.3 kB of it per literal).
pub const MAX_DFA_LITERALS: usize = 8192;
/// How many runs step together: 4 was fastest (2: 1.4 x slower, 8: 1.9 x).
const LANES: usize = 4;
/// Texts shorter than this are searched in one run.
const MIN_LANED_BYTES: usize = 256;

/// A compiled set of literals.
#[derive(Debug, Clone)]
pub struct LiteralScan {
    search: Search,
}

#[derive(Debug, Clone)]
enum Search {
    Laned {
        dfa: Box<DFA>,
        start: StateID,
        max_len: usize,
    },
    Plain(AhoCorasick),
}

impl LiteralScan {
    /// Compiles `literals` (pattern `i` is `literals[i]`), matched ignoring ASCII case.
    /// `None` when there are no literals, when one is empty (it would occur everywhere,
    /// so a scan could tell nothing; the prefilter derives none), or when building fails
    /// (only on limits far beyond any playbook).
    pub fn new<L: AsRef<[u8]>>(literals: &[L]) -> Option<LiteralScan> {
        if literals.is_empty() || literals.iter().any(|l| l.as_ref().is_empty()) {
            return None;
        }
        let search = if literals.len() <= MAX_DFA_LITERALS {
            let dfa = DFA::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .start_kind(StartKind::Unanchored)
                .prefilter(false)
                .build(literals)
                .ok()?;
            let start = dfa.start_state(Anchored::No).ok()?;
            let max_len = dfa.max_pattern_len();
            Search::Laned {
                dfa: Box::new(dfa),
                start,
                max_len,
            }
        } else {
            Search::Plain(
                AhoCorasick::builder()
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .ascii_case_insensitive(true)
                    .build(literals)
                    .ok()?,
            )
        };
        Some(LiteralScan { search })
    }

    /// Calls `found(pattern, start)` for every occurrence in `text`, overlapping ones
    /// included, until it breaks. The order is unspecified.
    pub fn for_each(&self, text: &[u8], mut found: impl FnMut(usize, usize) -> ControlFlow<()>) {
        match &self.search {
            Search::Laned {
                dfa,
                start,
                max_len,
            } => {
                let _ = laned(dfa, *start, *max_len, text, &mut found);
            }
            Search::Plain(automaton) => {
                for m in automaton.find_overlapping_iter(text) {
                    if found(m.pattern().as_usize(), m.start()).is_break() {
                        return;
                    }
                }
            }
        }
    }
}

/// Reports the literals that end at `end` (exclusive) in state `state`.
#[inline(always)]
fn report(
    dfa: &DFA,
    state: StateID,
    end: usize,
    found: &mut impl FnMut(usize, usize) -> ControlFlow<()>,
) -> ControlFlow<()> {
    for i in 0..dfa.match_len(state) {
        let pattern = dfa.match_pattern(state, i);
        // The DFA holds the literals it was built from, so the length is there.
        let len = dfa.pattern_len(pattern);
        found(pattern.as_usize(), end - len)?;
    }
    ControlFlow::Continue(())
}

fn laned(
    dfa: &DFA,
    start: StateID,
    max_len: usize,
    text: &[u8],
    found: &mut impl FnMut(usize, usize) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if text.len() < MIN_LANED_BYTES {
        return single(dfa, start, text, 0, 0, found);
    }
    // Run `j` reports the occurrences ending in its part, `from[j]..to[j]`, and begins
    // `max_len - 1` bytes earlier. The first part is the shortest run, so all runs step
    // together for `part` bytes; each then finishes alone.
    let part = text.len() / LANES;
    let back = max_len.saturating_sub(1);
    let mut at = [0usize; LANES];
    let mut from = [0usize; LANES];
    let mut to = [0usize; LANES];
    for j in 0..LANES {
        from[j] = j * part;
        at[j] = from[j].saturating_sub(back);
        to[j] = if j == LANES - 1 {
            text.len()
        } else {
            (j + 1) * part
        };
    }
    let mut state = [start; LANES];
    for i in 0..part {
        for j in 0..LANES {
            let p = at[j] + i;
            let s = dfa.next_state(Anchored::No, state[j], text[p]);
            state[j] = s;
            if dfa.is_special(s) && dfa.is_match(s) && p >= from[j] {
                report(dfa, s, p + 1, found)?;
            }
        }
    }
    for j in 0..LANES {
        let begin = at[j] + part;
        single(dfa, state[j], &text[..to[j]], begin, from[j], found)?;
    }
    ControlFlow::Continue(())
}

/// One run over `text[begin..]` from `state`, reporting the occurrences that end past
/// `from`.
fn single(
    dfa: &DFA,
    mut state: StateID,
    text: &[u8],
    begin: usize,
    from: usize,
    found: &mut impl FnMut(usize, usize) -> ControlFlow<()>,
) -> ControlFlow<()> {
    for (p, &byte) in text.iter().enumerate().skip(begin) {
        state = dfa.next_state(Anchored::No, state, byte);
        if dfa.is_special(state) && dfa.is_match(state) && p >= from {
            report(dfa, state, p + 1, found)?;
        }
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every occurrence as `aho-corasick`'s own overlapping search finds it.
    fn reference(literals: &[Vec<u8>], text: &[u8]) -> Vec<(usize, usize)> {
        let automaton = match AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(literals)
        {
            Ok(automaton) => automaton,
            Err(e) => panic!("reference automaton: {e}"),
        };
        let mut out: Vec<(usize, usize)> = automaton
            .find_overlapping_iter(text)
            .map(|m| (m.pattern().as_usize(), m.start()))
            .collect();
        out.sort_unstable();
        out
    }

    fn compiled(literals: &[Vec<u8>]) -> LiteralScan {
        match LiteralScan::new(literals) {
            Some(scan) => scan,
            None => panic!("no scan for {} literals", literals.len()),
        }
    }

    fn scanned(scan: &LiteralScan, text: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        scan.for_each(text, |pattern, start| {
            out.push((pattern, start));
            ControlFlow::Continue(())
        });
        out.sort_unstable();
        out
    }

    #[test]
    fn finds_overlapping_occurrences_across_the_parts() {
        let literals: Vec<Vec<u8>> = ["abc", "bcd", "c", "abcdabcd", "Déjà"]
            .iter()
            .map(|l| l.as_bytes().to_vec())
            .collect();
        let scan = compiled(&literals);
        // Long enough to be cut in parts, with occurrences on every boundary.
        for len in [0, 1, 255, 256, 257, 1000, 4099] {
            let text: Vec<u8> = b"xABCDabcd d\xc3\xa9j\xc3\xa0 "
                .iter()
                .copied()
                .cycle()
                .take(len)
                .collect();
            let got = scanned(&scan, &text);
            assert_eq!(got, reference(&literals, &text), "len {len}");
            if len > 256 {
                assert!(got.len() > len / 8, "len {len}: {}", got.len());
            }
        }
    }

    #[test]
    fn stops_when_told() {
        let scan = compiled(&[b"ab".to_vec()]);
        let text = b"ab".repeat(1000);
        let mut seen = 0;
        scan.for_each(&text, |_, _| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(seen, 3);
    }

    #[test]
    fn nothing_to_look_for_builds_nothing() {
        assert!(LiteralScan::new::<&[u8]>(&[]).is_none());
        assert!(LiteralScan::new(&[&b"ab"[..], b""]).is_none());
    }

    #[test]
    fn past_the_dfa_limit_the_plain_search_finds_the_same() {
        let literals: Vec<Vec<u8>> = (0..MAX_DFA_LITERALS + 1)
            .map(|i| format!("k{i}x").into_bytes())
            .collect();
        let scan = compiled(&literals);
        assert!(matches!(scan.search, Search::Plain(_)));
        let text = b"k1x K22X k4096x k4097x".repeat(40);
        assert_eq!(scanned(&scan, &text), reference(&literals, &text));
    }

    proptest! {
        /// Over small alphabets, so that occurrences overlap and straddle the parts.
        #[test]
        fn agrees_with_the_overlapping_search(
            literals in prop::collection::vec(prop::collection::vec(
                prop::sample::select(b"abAB\xc3\xa9".to_vec()), 1..12), 1..20),
            text in prop::collection::vec(prop::sample::select(b"abcAB\xc3\xa9".to_vec()), 0..3000),
        ) {
            let scan = compiled(&literals);
            prop_assert_eq!(scanned(&scan, &text), reference(&literals, &text));
        }
    }
}
