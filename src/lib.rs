//! vpcsim: an Alibaba Cloud VPC data plane, simulated packet by packet.
//!
//! Layers, from the bytes up (see ARCHITECTURE.md):
//! `wire` (packet views) → `model` (control plane) → `compile` (immutable tables) →
//! `flow` + `pipeline` (per-packet stages with per-flow state) → `engine` (threads) →
//! edges: `pcapio`, `capture`, `check`, `probe`, `hosts`, `replay`, `scenario`, `import`,
//! `cli` (each uses only the ones before it).

pub mod capture;
pub mod check;
pub mod cli;
pub mod compile;
pub mod engine;
pub mod flow;
pub mod fuzzing;
pub mod hosts;
pub mod import;
pub mod live;
pub mod model;
pub mod pcapio;
pub mod pipeline;
pub mod probe;
pub mod reach;
pub mod replay;
pub mod scenario;
pub mod terraform;
pub mod time;
pub mod timeline;
pub mod wire;
