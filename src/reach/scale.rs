//! A generated VPC for measuring `exposure` at scale (issue 14, part 5): N instances in
//! /24 VSwitches, G basic security groups of R rules each (ports, peer CIDRs, drops at
//! higher priority, UDP, ICMP, `all`), one EIP per ten instances, and a NAT gateway with
//! D DNAT entries (every tenth a 50-port range) beside its SNAT entry.

use std::fmt::Write;

/// The scenario TOML of the generated VPC.
pub fn generated_vpc(instances: usize, groups: usize, rules: usize, dnat: usize) -> String {
    let mut s = String::from(
        "[scenario]\nname = \"generated\"\n\n[[vpcs]]\nid = \"vpc-g\"\ncidr = \"10.0.0.0/8\"\n\n",
    );
    let per_vsw = 200;
    let vsws = instances.div_ceil(per_vsw).max(1);
    for v in 0..vsws {
        let _ = writeln!(s, "[[vswitches]]\nid = \"vsw-{v}\"\nvpc = \"vpc-g\"\nzone = \"cn-hangzhou-h\"\ncidr = \"10.0.{v}.0/24\"\n");
    }
    for g in 0..groups {
        let _ = writeln!(
            s,
            "[[security_groups]]\nid = \"sg-{g}\"\nvpc = \"vpc-g\"\nrules = ["
        );
        for k in 0..rules {
            let rule = match k % 10 {
                0 => format!("{{ direction = \"ingress\", protocol = \"tcp\", ports = \"22/22\", cidr = \"{}.0.0.0/8\", priority = 2 }}", 11 + (g + k) % 80),
                1 => "{ direction = \"ingress\", protocol = \"tcp\", ports = \"80/80\", cidr = \"0.0.0.0/0\" }".into(),
                2 => "{ direction = \"ingress\", protocol = \"tcp\", ports = \"443/443\", cidr = \"0.0.0.0/0\" }".into(),
                3 | 4 => {
                    let lo = 1000 + g * 97 + k * 311;
                    format!("{{ direction = \"ingress\", protocol = \"tcp\", ports = \"{lo}/{}\", cidr = \"{}.{}.0.0/16\" }}", lo + 50, 100 + g % 100, k)
                }
                5 => format!("{{ direction = \"ingress\", protocol = \"udp\", ports = \"{}/{}\", cidr = \"0.0.0.0/0\" }}", 5000 + k, 5010 + k),
                6 => "{ direction = \"ingress\", protocol = \"icmp\", cidr = \"0.0.0.0/0\" }".into(),
                7 => format!("{{ direction = \"ingress\", protocol = \"tcp\", ports = \"22/22\", cidr = \"{}.{}.0.0/16\", policy = \"drop\", priority = 1 }}", 11 + (g + k) % 80, k),
                8 => format!("{{ direction = \"ingress\", protocol = \"tcp\", ports = \"3389/3389\", cidr = \"203.0.{}.0/24\" }}", (g + k) % 250),
                _ => format!("{{ direction = \"ingress\", protocol = \"all\", cidr = \"198.18.{}.0/24\", priority = 5 }}", (g * 7 + k) % 250),
            };
            let _ = writeln!(s, "  {rule},");
        }
        s.push_str("]\n\n");
    }
    let ip = |i: usize| format!("10.0.{}.{}", i / per_vsw, 4 + i % per_vsw);
    for i in 0..instances {
        let _ = writeln!(
            s,
            "[[instances]]\nid = \"i-{i}\"\nvswitch = \"vsw-{}\"\nprivate_ip = \"{}\"\nsecurity_groups = [\"sg-{}\"]\n",
            i / per_vsw,
            ip(i),
            i % groups.max(1)
        );
    }
    s.push_str("[[nat_gateways]]\nid = \"ngw-g\"\nvpc = \"vpc-g\"\nvswitch = \"vsw-0\"\nsnat = [ { source_cidr = \"10.0.0.0/8\", snat_ips = [\"47.100.0.1\"] } ]\ndnat = [\n");
    for j in 0..dnat {
        let target = ip((j * 10) % instances.max(1));
        if j % 10 == 9 {
            let lo = 20000 + j * 100;
            let _ = writeln!(s, "  {{ external_ip = \"47.100.0.2\", external_port = \"{lo}/{}\", internal_ip = \"{target}\", internal_port = \"1000/1049\", protocol = \"TCP\" }},", lo + 49);
        } else {
            let _ = writeln!(s, "  {{ external_ip = \"47.100.0.2\", external_port = \"{}\", internal_ip = \"{target}\", internal_port = \"{}\", protocol = \"TCP\" }},", 10000 + j, if j % 2 == 0 { 22 } else { 80 });
        }
    }
    s.push_str("]\n\n");
    for a in 1..=2 {
        let _ = writeln!(s, "[[eips]]\nid = \"eip-ngw-{a}\"\naddress = \"47.100.0.{a}\"\nbind = {{ type = \"Nat\", id = \"ngw-g\" }}\n");
    }
    for e in 0..instances / 10 {
        let _ = writeln!(
            s,
            "[[eips]]\nid = \"eip-{e}\"\naddress = \"47.101.{}.{}\"\nbind = {{ type = \"EcsInstance\", id = \"i-{}\" }}\n",
            e / 250,
            1 + e % 250,
            e * 10 + 5
        );
    }
    s
}
