//! Longest-prefix match over IPv4: one hash map per prefix length present, probed from
//! the longest down. With k distinct lengths a lookup is at most k hash probes, whatever
//! the number of routes (a 1,000-route table typically has a handful of lengths).

use super::FastMap;

use ipnet::Ipv4Net;

#[derive(Debug, Clone)]
pub struct Lpm<T> {
    /// (prefix length, mask, networks of that length), longest first.
    levels: Vec<(u8, u32, FastMap<u32, T>)>,
}

impl<T> Default for Lpm<T> {
    fn default() -> Self {
        Lpm { levels: Vec::new() }
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

impl<T> Lpm<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces the value for `net` (host bits are ignored).
    pub fn insert(&mut self, net: Ipv4Net, value: T) {
        let len = net.prefix_len();
        let m = mask(len);
        let key = u32::from(net.network()) & m;
        let pos = match self.levels.iter().position(|(l, _, _)| *l <= len) {
            Some(p) if self.levels[p].0 == len => p,
            Some(p) => {
                self.levels.insert(p, (len, m, FastMap::default()));
                p
            }
            None => {
                self.levels.push((len, m, FastMap::default()));
                self.levels.len() - 1
            }
        };
        self.levels[pos].2.insert(key, value);
    }

    /// The value of the longest prefix containing `addr`, with that prefix's length.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<(u8, &T)> {
        for (len, m, map) in &self.levels {
            if let Some(v) = map.get(&(addr & m)) {
                return Some((*len, v));
            }
        }
        None
    }

    /// Every value, longest prefixes first (for deriving traffic classes).
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.levels.iter().flat_map(|(_, _, m)| m.values())
    }

    pub fn len(&self) -> usize {
        self.levels.iter().map(|(_, _, m)| m.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn a(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    #[test]
    fn longest_prefix_wins_whatever_the_insertion_order() {
        let mut t = Lpm::new();
        t.insert(n("0.0.0.0/0"), "default");
        t.insert(n("10.0.0.0/8"), "eight");
        t.insert(n("10.1.2.0/24"), "twentyfour");
        t.insert(n("10.1.0.0/16"), "sixteen");
        assert_eq!(t.lookup(a("10.1.2.3")), Some((24, &"twentyfour")));
        assert_eq!(t.lookup(a("10.1.3.3")), Some((16, &"sixteen")));
        assert_eq!(t.lookup(a("10.9.3.3")), Some((8, &"eight")));
        assert_eq!(t.lookup(a("8.8.8.8")), Some((0, &"default")));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn no_match_without_a_default_route() {
        let mut t = Lpm::new();
        t.insert(n("192.168.1.0/24"), 1);
        assert_eq!(t.lookup(a("192.168.2.1")), None);
        assert_eq!(t.lookup(a("192.168.1.255")), Some((24, &1)));
    }

    #[test]
    fn host_routes_match_only_their_address() {
        let mut t = Lpm::new();
        t.insert(n("10.0.0.5/32"), 'h');
        assert_eq!(t.lookup(a("10.0.0.5")), Some((32, &'h')));
        assert_eq!(t.lookup(a("10.0.0.4")), None);
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_a_linear_scan(routes in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32), 0..40), probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..40)) {
            let mut t = Lpm::new();
            let mut list: Vec<(u32, u8, usize)> = vec![];
            for (i, (addr, len)) in routes.iter().enumerate() {
                let net = Ipv4Net::new(std::net::Ipv4Addr::from(*addr), *len).unwrap().trunc();
                t.insert(net, i);
                list.retain(|(a, l, _)| !(*l == *len && *a == u32::from(net.network())));
                list.push((u32::from(net.network()), *len, i));
            }
            for p in probes {
                let best = list.iter().filter(|(a, l, _)| p & mask(*l) == *a).max_by_key(|(_, l, _)| *l).map(|(_, l, i)| (*l, *i));
                proptest::prop_assert_eq!(t.lookup(p).map(|(l, v)| (l, *v)), best);
            }
        }
    }
}
