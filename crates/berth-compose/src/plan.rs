//! Service ordering: a service starts after everything it names in `depends_on`,
//! `links`, `volumes_from` (a service, not `container:…`) and `network_mode:
//! service:…`. Selecting services on the command line pulls in their dependencies.
//! Names that are not services and cycles are errors; so is depending on a service
//! that profiles disabled (unless the dependency says `required: false`).

use crate::error::{ComposeError, Result};
use crate::model::Project;
use std::collections::{BTreeMap, BTreeSet};

/// The services `name` depends on, with the key that says so.
pub fn dependencies(p: &Project, name: &str) -> Vec<(String, &'static str)> {
    let Some(s) = p.services.get(name) else {
        return Vec::new();
    };
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for d in s.depends_on.keys() {
        if s.optional_depends_on.contains(d) && !p.services.contains_key(d) {
            continue;
        }
        out.push((d.clone(), "depends_on"));
    }
    for l in &s.links {
        out.push((l.service.clone(), "links"));
    }
    for v in &s.volumes_from {
        if v.starts_with("container:") {
            continue;
        }
        let svc = v.split(':').next().unwrap_or(v);
        out.push((svc.to_string(), "volumes_from"));
    }
    if let Some(m) = &s.network_mode {
        if let Some(svc) = m.strip_prefix("service:") {
            out.push((svc.to_string(), "network_mode"));
        }
    }
    out
}

/// The error for `service` depending on `dep`, which is not an enabled service.
fn missing(p: &Project, service: &str, dep: String, via: &'static str) -> ComposeError {
    match p.disabled.get(&dep) {
        Some(d) => ComposeError::DisabledDependency {
            file: p
                .services
                .get(service)
                .map(|s| s.defined_in.clone())
                .unwrap_or_default(),
            service: service.to_string(),
            dependency: dep,
            via,
            profiles: d.profiles.clone(),
        },
        None => ComposeError::UndefinedDependency {
            service: service.to_string(),
            missing: dep,
            via,
        },
    }
}

/// Checks that every dependency exists and there is no cycle.
pub fn validate(p: &Project) -> Result<()> {
    for name in p.services.keys() {
        for (d, via) in dependencies(p, name) {
            if !p.services.contains_key(&d) {
                return Err(missing(p, name, d, via));
            }
        }
    }
    order(p, &[]).map(|_| ())
}

/// The services to act on, dependencies first. `selected` empty = all services;
/// otherwise the named ones and (transitively) what they depend on.
pub fn order(p: &Project, selected: &[String]) -> Result<Vec<String>> {
    for s in selected {
        if !p.services.contains_key(s) {
            return Err(ComposeError::NoSuchService(s.clone()));
        }
    }
    let roots: Vec<String> = if selected.is_empty() {
        p.services.keys().cloned().collect()
    } else {
        selected.to_vec()
    };
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<String, Mark> = BTreeMap::new();
    let mut out = Vec::new();
    fn visit(
        p: &Project,
        n: &str,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<()> {
        match marks.get(n) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].to_vec();
                cycle.push(n.to_string());
                return Err(ComposeError::Cycle { cycle });
            }
            None => {}
        }
        marks.insert(n.to_string(), Mark::Visiting);
        stack.push(n.to_string());
        let deps: BTreeSet<String> = dependencies(p, n).into_iter().map(|(d, _)| d).collect();
        for d in deps {
            if !p.services.contains_key(&d) {
                let via = dependencies(p, n)
                    .into_iter()
                    .find(|(x, _)| *x == d)
                    .map(|(_, v)| v)
                    .unwrap_or("depends_on");
                return Err(missing(p, n, d, via));
            }
            visit(p, &d, marks, stack, out)?;
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        out.push(n.to_string());
        Ok(())
    }
    let mut stack = Vec::new();
    for r in roots {
        visit(p, &r, &mut marks, &mut stack, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_str;
    use std::collections::HashMap;
    use std::path::Path;

    fn project(t: &str) -> Project {
        load_str(Path::new("/p/x/compose.yml"), t, HashMap::new(), None).unwrap()
    }

    #[test]
    fn dependencies_come_first() {
        let p = project(
            "services:\n  web:\n    image: a\n    depends_on: [api]\n    links: [cache]\n  api:\n    image: a\n    volumes_from: [data:ro]\n  cache:\n    image: a\n    network_mode: service:api\n  data:\n    image: a\n  lone:\n    image: a\n",
        );
        validate(&p).unwrap();
        let o = order(&p, &[]).unwrap();
        let pos = |n: &str| o.iter().position(|x| x == n).unwrap();
        assert!(pos("data") < pos("api"));
        assert!(pos("api") < pos("web"));
        assert!(pos("api") < pos("cache"));
        assert!(pos("cache") < pos("web"));
        assert_eq!(o.len(), 5);
        // Selecting pulls dependencies in, and nothing else.
        let o = order(&p, &["cache".into()]).unwrap();
        assert_eq!(o, ["data", "api", "cache"]);
        assert!(matches!(
            order(&p, &["nope".into()]),
            Err(ComposeError::NoSuchService(_))
        ));
    }

    #[test]
    fn v1_links_order() {
        let p = project("web:\n  image: a\n  links: [db:database]\ndb:\n  image: b\n");
        assert_eq!(order(&p, &[]).unwrap(), ["db", "web"]);
    }

    #[test]
    fn cycles_and_missing() {
        let p = project(
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    links: [c]\n  c:\n    image: x\n    depends_on: [a]\n",
        );
        let e = validate(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "circular dependency between services: a -> b -> c -> a"
        );
        let p = project("web:\n  image: a\n  links: [db]\n");
        let e = validate(&p).unwrap_err().to_string();
        assert_eq!(
            e,
            "service \"web\" depends on undefined service \"db\" (through links)"
        );
        let p = project("services:\n  a:\n    image: x\n    depends_on: [a]\n");
        assert!(matches!(validate(&p), Err(ComposeError::Cycle { .. })));
    }
}
