//! `monitor --write FILE`: the pcapng file live capture is recorded in, for `replay`.
//!
//! Each interface gets an interface block with its addresses and their prefixes (a replay
//! finds the LAN's network as live capture did). When an interface's addresses change during
//! the capture (a DHCP renewal, a VPN reconnecting), it gets a new block of the same name with
//! the new addresses, and its packets from then on name that block: a replay judges what came
//! after the change with the addresses live capture had then, not those of the start.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use crate::capture::live::Ended;
use crate::output::pcapng::{IfaceEnd, PcapngWriter};
use crate::system::privilege;
use dnsleak_core::{IfaceAddr, LinkType, Topology, Ts};

/// Interfaces followed at most (an interface id past it shares one block): live capture
/// watches the machine's interfaces, a few dozen at most.
const MAX_IFACES: usize = 4_096;

pub struct Recording<W: Write = BufWriter<File>> {
    w: PcapngWriter<W>,
    /// The file's name, for errors.
    path: String,
    /// By interface id: its current block in the file and the addresses written in it.
    blocks: Vec<Option<(u32, Vec<IfaceAddr>)>>,
}

impl Recording {
    /// Creates the file and its section header.
    pub fn create(path: &Path) -> anyhow::Result<Recording> {
        let name = path.display().to_string();
        let file =
            File::create(path).map_err(|e| anyhow::anyhow!(privilege::explain_create_error(path, &e)))?;
        Recording::new(BufWriter::new(file), name)
    }
}

impl<W: Write> Recording<W> {
    pub fn new(out: W, path: String) -> anyhow::Result<Recording<W>> {
        let w = PcapngWriter::new(out).with_context(|| format!("writing {path}"))?;
        Ok(Recording { w, path, blocks: Vec::new() })
    }

    /// A block for each interface new to the file, and a new one for each whose addresses
    /// changed.
    pub fn interfaces(&mut self, topology: &Topology) -> anyhow::Result<()> {
        for i in topology.iter() {
            let id = (i.id as usize).min(MAX_IFACES);
            if self.blocks.len() <= id {
                self.blocks.resize(id + 1, None);
            }
            if self.blocks[id].as_ref().is_some_and(|(_, addrs)| *addrs == i.facts.addrs) {
                continue;
            }
            let link = i.facts.link.unwrap_or(LinkType::ETHERNET);
            let block = self.w.add_interface(&i.name, link, &i.facts.addrs).with_context(|| self.what())?;
            self.blocks[id] = Some((block, i.facts.addrs.clone()));
        }
        Ok(())
    }

    /// The block `iface`'s packets name now (one without addresses for an interface never
    /// described, as a capture that names none).
    fn block(&mut self, iface: u32) -> anyhow::Result<u32> {
        let id = (iface as usize).min(MAX_IFACES);
        if let Some(Some((block, _))) = self.blocks.get(id) {
            return Ok(*block);
        }
        let block = self
            .w
            .add_interface(&format!("if{iface}"), LinkType::ETHERNET, &[])
            .with_context(|| self.what())?;
        if self.blocks.len() <= id {
            self.blocks.resize(id + 1, None);
        }
        self.blocks[id] = Some((block, Vec::new()));
        Ok(block)
    }

    /// One captured packet of interface `iface`, with the notes recorded beside it.
    pub fn packet(
        &mut self,
        iface: u32,
        ts: Ts,
        orig_len: u32,
        data: &[u8],
        notes: &[String],
    ) -> anyhow::Result<()> {
        let block = self.block(iface)?;
        self.w.packet(block, ts, orig_len, data, notes).with_context(|| self.what())
    }

    /// An end-of-interface block for each capture that closed (on its current block).
    pub fn ends(&mut self, ended: &[Ended]) -> anyhow::Result<()> {
        for e in ended {
            let end = IfaceEnd {
                start: Some(e.start),
                end: e.end,
                received: Some(e.received),
                dropped: Some(e.dropped),
            };
            let block = self.block(e.id)?;
            self.w.interface_end(block, end).with_context(|| self.what())?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.w.flush().with_context(|| self.what())
    }

    fn what(&self) -> String {
        format!("writing {}", self.path)
    }

    #[cfg(test)]
    fn into_inner(self) -> W {
        self.w.into_inner()
    }
}

#[cfg(test)]
mod tests;
