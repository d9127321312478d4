//! Adding one file's [`Report`] to the report of the files before it, as if its events had
//! come after theirs: `replay -j N` judges files apart and merges their reports in file order.
//!
//! While no table overflows, the merge gives exactly what one report fed every event in
//! order gives: rows are appended in first-seen order, counts add, an interface's kind is the
//! one the later file gave, flows and notices keep the first ones up to the cap. The leaked
//! names' sketch is merged as weighted Space-Saving updates (the same error bound when it
//! is saturated; exact below its capacity).

use super::Report;

impl Report {
    /// Adds `other` (the next file's report) to this one.
    pub fn merge(&mut self, other: &Report) {
        self.merge_ifaces(other);
        self.merge_resolvers(other);
        for (name, count, error) in other.leaked.entries() {
            self.leaked.add_weighted(name, count, error);
        }
        self.leaked.saturated |= other.leaked.saturated;
        self.leaked_queries += other.leaked_queries;
        self.causes.merge(&other.causes);
        self.programs.merge(&other.programs);
        for f in &other.flows {
            if self.flows.len() < self.limits.flows {
                self.flows.push(f.clone());
            } else {
                self.flows_overflow += 1;
            }
        }
        self.flows_overflow += other.flows_overflow;
        for (code, n) in &other.notice_counts {
            match self.notice_counts.iter_mut().find(|(c, _)| c == code) {
                Some((_, k)) => *k += n,
                None => self.notice_counts.push((code, *n)),
            }
        }
        let room = self.limits.notices.saturating_sub(self.notices.len());
        self.notices.extend(other.notices.iter().take(room).cloned());
        self.last_iface = None;
        self.last_resolver = None;
    }

    fn merge_ifaces(&mut self, other: &Report) {
        // The next file's interfaces are the latest ones told: an interface it did not name
        // is gone (as `topology` says when the next file's interfaces arrive).
        if !other.ifaces.is_empty() {
            for row in &mut self.ifaces {
                (row.present, row.up) = (false, false);
            }
        }
        for r in &other.ifaces {
            let Some(i) = self.iface_index(&r.name) else { continue };
            let row = &mut self.ifaces[i];
            row.kind = r.kind.or(row.kind);
            (row.present, row.up) = (r.present, r.up);
            for (a, b) in row.verdicts.iter_mut().zip(r.verdicts) {
                *a += b;
            }
            row.queries += r.queries;
            row.responses += r.responses;
            row.encrypted += r.encrypted;
            row.malformed += r.malformed;
            row.exposures += r.exposures;
            row.packets = match (row.packets, r.packets) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
        }
    }

    fn merge_resolvers(&mut self, other: &Report) {
        self.resolvers_overflow += other.resolvers_overflow;
        for r in &other.resolvers {
            let iface = self.ifaces.iter().position(|i| i.name == r.iface).unwrap_or(usize::MAX);
            let key = (r.addr, iface, r.transport);
            let idx = match self.resolver_index.get(&key) {
                Some(&i) => i,
                None if self.resolvers.len() < self.limits.resolvers => {
                    let mut row = r.clone();
                    row.queries = 0;
                    row.responses = 0;
                    row.verdicts = [0; 5];
                    row.last_verdict = None;
                    row.rtts.clear();
                    self.resolvers.push(row);
                    self.resolver_index.insert(key, self.resolvers.len() - 1);
                    self.resolvers.len() - 1
                }
                None => {
                    self.resolvers_overflow += r.queries + r.responses;
                    continue;
                }
            };
            let row = &mut self.resolvers[idx];
            row.queries += r.queries;
            row.responses += r.responses;
            row.provider = row.provider.or(r.provider);
            for (a, b) in row.verdicts.iter_mut().zip(r.verdicts) {
                *a += b;
            }
            row.last_verdict = r.last_verdict.or(row.last_verdict);
            for &rtt in &r.rtts {
                if row.rtts.len() >= self.limits.rtt_samples {
                    row.rtts.pop_front();
                }
                if self.limits.rtt_samples > 0 {
                    row.rtts.push_back(rtt);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::report::ReportLimits;

    #[test]
    fn merging_an_empty_report_changes_nothing() {
        let mut a = Report::new(ReportLimits::default());
        a.merge(&Report::new(ReportLimits::default()));
        assert!(a.interfaces().is_empty() && a.resolvers().is_empty() && a.top_leaked(5).is_empty());
    }
}
