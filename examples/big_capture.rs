//! Writes a large Ethernet pcap for measuring `vpcsim replay` (BENCHMARKS.md): 64-byte
//! UDP frames from i-web (10.0.1.10, the engine's bench scenario) to 8.8.8.8:53 over
//! FLOWS source ports, 1 µs apart — every flow's first packet, then its later ones.
//!
//!     cargo run --release --example big_capture -- PACKETS FLOWS OUT.pcap
//!     vpcsim replay src/engine/bench.toml --pcap OUT.pcap --at i-web --out /dev/null -q

use std::io::BufWriter;
use std::net::Ipv4Addr;

use vpcsim::pcapio::PcapWriter;
use vpcsim::wire::{self, ProbeL4, ProbeSpec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(packets), Some(flows), Some(path)) = (
        args.first().and_then(|a| a.parse::<u64>().ok()),
        args.get(1).and_then(|a| a.parse::<u64>().ok()),
        args.get(2),
    ) else {
        eprintln!("usage: big_capture PACKETS FLOWS OUT.pcap");
        std::process::exit(2);
    };
    let flows = flows.clamp(1, 60_000);
    let frames: Vec<Vec<u8>> = (0..flows)
        .map(|f| {
            wire::build(&ProbeSpec {
                src_mac: [0x02, 0, 0, 0, 0, 1],
                dst_mac: [0xee, 0xff, 0xff, 0xff, 0xff, 0xff],
                src: Ipv4Addr::new(10, 0, 1, 10),
                dst: Ipv4Addr::new(8, 8, 8, 8),
                ttl: 64,
                ident: 0,
                l4: ProbeL4::Udp {
                    sport: 1024 + f as u16,
                    dport: 53,
                },
                payload: vec![0; 22],
            })
        })
        .collect();
    let file = std::fs::File::create(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    });
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, file)).expect("pcap header");
    let t0 = 1_700_000_000u64 * 1_000_000_000;
    for i in 0..packets {
        let f = &frames[(i % flows) as usize];
        w.write_packet(t0 + i * 1000, f).expect("write");
    }
    w.flush().expect("flush");
}
