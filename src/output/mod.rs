//! Outputs: NDJSON, the summary a person reads, pcapng for `--write`.
