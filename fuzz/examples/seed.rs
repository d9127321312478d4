//! Writes a seed corpus for the `pipeline` target from capture files: runs of up to 8
//! consecutive frames (so fragments and TCP segments stay together), in the target's input
//! format. Usage: cargo run --example seed -- OUT_DIR CAPTURE...
use std::path::PathBuf;

use dnsleak::capture::reader::{for_each_frame, Input};

const LINKS: [u32; 12] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147, 65535];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().expect("OUT_DIR"));
    std::fs::create_dir_all(&out)?;
    let mut written = 0;
    for (c, capture) in args.enumerate() {
        let mut links = Vec::new();
        let mut seed = Vec::new();
        let mut count = 0;
        let mut n = 0;
        for_each_frame(capture.as_ref(), |input| {
            match input {
                Input::Interfaces { ifaces, .. } => links = ifaces.iter().map(|i| i.link.0).collect(),
                Input::Frame(f) => {
                    let link = links.get(f.iface as usize).copied().unwrap_or(1);
                    let sel = LINKS.iter().position(|&l| l == link).unwrap_or(10) as u8;
                    let len = f.data.len().min(u16::MAX as usize);
                    seed.push(sel);
                    seed.extend_from_slice(&(len as u16).to_be_bytes());
                    seed.extend_from_slice(&f.data[..len]);
                    count += 1;
                    if count == 8 {
                        std::fs::write(out.join(format!("c{c}-{n}")), &seed)?;
                        (seed, count, n) = (Vec::new(), 0, n + 1);
                    }
                }
            }
            Ok(())
        })?;
        if !seed.is_empty() {
            std::fs::write(out.join(format!("c{c}-{n}")), &seed)?;
            n += 1;
        }
        written += n;
    }
    println!("{written} seeds");
    Ok(())
}
