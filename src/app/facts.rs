//! `dnsleak facts`: what dnsleak reads from this system, for debugging the causes it gives —
//! interfaces with their prefixes and kinds, which families each interface routes, the kernel's
//! route to given addresses, and the resolver configuration (with `--watch`, again whenever it
//! changes).

use std::io::Write;

use anyhow::Context;
use serde_json::json;

use dnsleak_core::topology::classify;
use dnsleak_core::{Overrides, ResolverConfig};

use crate::cli::FactsArgs;
use crate::output::escape::escape;
use crate::output::facts::{iface_json, link_routes_json, resolver_json, resolver_text, route_json};
use crate::system::resolver::{self, watch::Watcher, Options};
use crate::system::{interfaces, routes::Routes};

pub fn run(args: &FactsArgs) -> anyhow::Result<()> {
    let opts = Options { resolv_conf: args.resolv_conf.clone(), dbus: !args.no_dbus };
    let mut out = std::io::stdout().lock();
    let ifaces = interfaces::list();
    let mut routes = Routes::open().context("cannot open a netlink socket to ask the kernel for routes")?;
    let link_routes = routes.link_routes().context("cannot list the kernel's routes")?;
    let mut decisions = Vec::new();
    for a in &args.route {
        decisions
            .push(routes.decide(*a).with_context(|| format!("cannot ask the kernel for the route to {a}"))?);
    }
    let kind = |f: &dnsleak_core::IfaceFacts| classify(f, &Overrides::default()).as_str();
    if !args.watch {
        let config = resolver::read(&opts, &resolver::os_names());
        if args.json {
            let v = json!({
                "interfaces": ifaces.iter().map(|f| iface_json(f, kind(f))).collect::<Vec<_>>(),
                "link_routes": link_routes.iter().map(link_routes_json).collect::<Vec<_>>(),
                "routes": decisions.iter().map(route_json).collect::<Vec<_>>(),
                "resolver": resolver_json(&config),
            });
            writeln!(out, "{v}")?;
            return Ok(());
        }
        writeln!(out, "interfaces:")?;
        for f in &ifaces {
            let addrs: Vec<String> = f.addrs.iter().map(|a| a.to_string()).collect();
            let state = if f.up { "up" } else { "down" };
            writeln!(out, "  {} ({}, {state}) {}", escape(&f.name), kind(f), addrs.join(" "))?;
        }
        writeln!(out, "routes beyond the link, by interface:")?;
        for l in &link_routes {
            let fam: Vec<&str> =
                [(l.v4, "IPv4"), (l.v6, "IPv6")].iter().filter(|x| x.0).map(|x| x.1).collect();
            writeln!(
                out,
                "  {}: {}",
                escape(&l.iface),
                if fam.is_empty() { "none".into() } else { fam.join(" ") }
            )?;
        }
        for d in &decisions {
            writeln!(out, "route to {}: {}", d.dst, escape(&d.to_string()))?;
        }
        write!(out, "{}", resolver_text(&config))?;
        return Ok(());
    }
    let w = Watcher::start(opts);
    for config in w.configs() {
        print_config(&mut out, &config, args.json)?;
    }
    Ok(())
}

fn print_config(out: &mut impl Write, c: &ResolverConfig, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", resolver_json(c))?;
    } else {
        write!(out, "{}", resolver_text(c))?;
    }
    out.flush()?;
    Ok(())
}
