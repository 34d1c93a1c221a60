//! Ids that help: an endpoint may be given by id or by name (imports carry names such
//! as `web-1`), and an unknown one gets the closest valid ids ("did you mean").

use crate::model::Cloud;

/// What kinds of endpoint the caller takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Instances, ENIs and `internet:IP` (trace, replay).
    InstanceOrEni,
    /// Instances and `internet:IP` (session clients).
    Instance,
}

/// Resolves `s` to the id the library takes: an instance or ENI id is returned as is,
/// `internet:IP` too, and a unique instance (or ENI) name becomes its id. Unknown or
/// ambiguous endpoints are refused with the closest valid ids.
pub fn endpoint(cloud: &Cloud, s: &str, accept: Accept) -> Result<String, String> {
    if s.starts_with("internet:") || cloud.instances.contains_key(s) {
        return Ok(s.to_string());
    }
    let enis = accept == Accept::InstanceOrEni;
    if enis && cloud.enis.contains_key(s) {
        return Ok(s.to_string());
    }
    let mut named: Vec<&str> = cloud
        .instances
        .values()
        .filter(|i| !i.name.is_empty() && i.name == s)
        .map(|i| i.id.as_str())
        .collect();
    if named.is_empty() && enis {
        named = cloud
            .enis
            .values()
            .filter(|e| !e.name.is_empty() && e.name == s)
            .map(|e| e.id.as_str())
            .collect();
    }
    match named.as_slice() {
        [one] => return Ok((*one).to_string()),
        [] => {}
        many => {
            return Err(format!(
                "`{s}` names {} resources ({}); give the id",
                many.len(),
                many.join(", ")
            ))
        }
    }
    let what = if enis {
        "an instance id or name, an ENI id or name, or internet:IP"
    } else {
        "an instance id or name, or internet:IP"
    };
    let mut candidates: Vec<String> = Vec::new();
    for i in cloud.instances.values() {
        candidates.push(i.id.clone());
        if !i.name.is_empty() && i.name != i.id {
            candidates.push(i.name.clone());
        }
    }
    if enis {
        for e in cloud.enis.values() {
            candidates.push(e.id.clone());
            if !e.name.is_empty() && e.name != e.id {
                candidates.push(e.name.clone());
            }
        }
    }
    candidates.dedup();
    let close = closest(s, &candidates, 3);
    let hint = if close.is_empty() {
        let some: Vec<&str> = candidates.iter().take(6).map(String::as_str).collect();
        if some.is_empty() {
            "the scenario has none".to_string()
        } else {
            format!("valid: {}", some.join(", "))
        }
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    Err(format!("endpoint `{s}` is not {what}; {hint}"))
}

/// Up to `n` of `candidates` closest to `s` (normalised Damerau–Levenshtein similarity
/// of at least 0.5, or `s` a prefix or substring), best first.
pub fn closest(s: &str, candidates: &[String], n: usize) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = candidates
        .iter()
        .map(|c| {
            let mut score = strsim::normalized_damerau_levenshtein(s, c);
            if !s.is_empty() && c.contains(s) {
                // A substring is a good hint; the closer in length, the better.
                score = score.max(0.75 + 0.2 * score);
            }
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.5)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut out: Vec<String> = Vec::new();
    for (_, c) in scored {
        if !out.contains(c) {
            out.push(c.clone());
        }
        if out.len() == n {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn cloud() -> Cloud {
        let sc = Scenario::load(None).expect("built-in scenario");
        sc.state_after(sc.steps.len())
    }

    #[test]
    fn ids_and_internet_pass_through() {
        let c = cloud();
        let id = c.instances.keys().next().cloned().unwrap_or_default();
        assert_eq!(endpoint(&c, &id, Accept::Instance), Ok(id.clone()));
        assert_eq!(
            endpoint(&c, "internet:198.51.100.7", Accept::Instance),
            Ok("internet:198.51.100.7".into())
        );
    }

    #[test]
    fn an_instance_name_resolves_to_its_id() {
        let mut c = cloud();
        let id = c.instances.keys().next().cloned().unwrap_or_default();
        if let Some(i) = c.instances.get_mut(&id) {
            i.name = "web-1".into();
        }
        assert_eq!(endpoint(&c, "web-1", Accept::InstanceOrEni), Ok(id));
    }

    #[test]
    fn an_unknown_endpoint_suggests_the_closest_ids() {
        let c = cloud();
        let id = c.instances.keys().next().cloned().unwrap_or_default();
        let typo = format!("{}x", &id[..id.len() - 1]);
        let err = endpoint(&c, &typo, Accept::InstanceOrEni).unwrap_err();
        assert!(err.contains("did you mean"), "{err}");
        assert!(err.contains(&id), "{err}");
    }

    #[test]
    fn an_eni_is_refused_where_only_instances_are_taken() {
        let c = cloud();
        let eni = c.enis.keys().next().cloned().unwrap_or_default();
        assert!(endpoint(&c, &eni, Accept::Instance).is_err());
        assert_eq!(endpoint(&c, &eni, Accept::InstanceOrEni), Ok(eni));
    }
}
