//! Prints the generated VPC of issue 14's scale measurement as a scenario file:
//! `cargo run --example generated_vpc -- 1000 50 20 100 > gen.toml`, then
//! `vpcsim exposure gen.toml` (arguments: instances, security groups, rules per group,
//! DNAT entries; those are the defaults).

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let arg = |i: usize, d: usize| a.get(i).copied().unwrap_or(d);
    print!(
        "{}",
        vpcsim::reach::scale::generated_vpc(arg(0, 1000), arg(1, 50), arg(2, 20), arg(3, 100))
    );
}
