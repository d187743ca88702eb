//! Profiles, as compose v2 (compose-go `WithProfiles`/`WithServicesEnabled`) applies
//! them:
//!
//! - A service without `profiles:` is always enabled; one with profiles only when one
//!   of them is active (`--profile NAME`, repeatable, or else `COMPOSE_PROFILES=a,b`;
//!   `*` activates every profile).
//! - Disabled services move to [`Project::disabled`]: no verb acts on them, but their
//!   containers are not orphans.
//! - A service named on the command line is enabled by activating its profiles, which
//!   also enables the dependencies that share one of them (`docker compose up
//!   mock-backend` brings `db` of the same `dev` profile).
//! - An enabled service that depends on a disabled one is an error naming both
//!   ([`crate::plan::validate`]).

use crate::error::{ComposeError, Result};
use crate::interp::Vars;
use crate::model::{Project, Service};

/// The active profiles: the `--profile` flags, or else `COMPOSE_PROFILES`.
pub fn active_profiles(flags: &[String], vars: &Vars) -> Vec<String> {
    let list: Vec<String> = if flags.is_empty() {
        vars.get("COMPOSE_PROFILES")
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    } else {
        flags.to_vec()
    };
    let mut out: Vec<String> = Vec::new();
    for p in list {
        let p = p.trim().to_string();
        if !p.is_empty() && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Whether `s` is enabled when `active` are the active profiles.
pub fn is_enabled(s: &Service, active: &[String]) -> bool {
    s.profiles.is_empty()
        || active
            .iter()
            .any(|a| a == "*" || s.profiles.iter().any(|p| p == a))
}

impl Project {
    /// Enables exactly the services `active` selects (the others go to `disabled`).
    pub fn apply_profiles(&mut self, active: Vec<String>) {
        let all = std::mem::take(&mut self.services)
            .into_iter()
            .chain(std::mem::take(&mut self.disabled));
        for (name, s) in all {
            if is_enabled(&s, &active) {
                self.services.insert(name, s);
            } else {
                self.disabled.insert(name, s);
            }
        }
        self.profiles = active;
    }

    /// Enables services named on the command line by activating their profiles (as
    /// `docker compose up SERVICE` does). A name that is no service is an error.
    pub fn enable_services(&mut self, names: &[String]) -> Result<()> {
        let mut active = self.profiles.clone();
        for n in names {
            if self.services.contains_key(n) {
                continue;
            }
            let Some(s) = self.disabled.get(n) else {
                return Err(ComposeError::NoSuchService(n.clone()));
            };
            for p in &s.profiles {
                if !active.contains(p) {
                    active.push(p.clone());
                }
            }
        }
        if active != self.profiles {
            self.apply_profiles(active);
        }
        Ok(())
    }

    /// Every profile some service names, sorted (`config --profiles`).
    pub fn all_profiles(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .services
            .values()
            .chain(self.disabled.values())
            .flat_map(|s| s.profiles.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_str;
    use crate::plan;
    use std::collections::HashMap;
    use std::path::Path;

    /// The example of the compose documentation's profiles page.
    const DOC: &str = "services:\n  web:\n    image: web\n  mock-backend:\n    image: backend\n    profiles: [dev]\n    depends_on: [db]\n  db:\n    image: mysql\n    profiles: [dev]\n  phpmyadmin:\n    image: phpmyadmin\n    profiles: [debug]\n    depends_on: [db]\n";

    fn load(env: &[(&str, &str)]) -> Project {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_str(Path::new("/p/app/compose.yml"), DOC, env, None).unwrap()
    }

    fn names(p: &Project) -> Vec<&str> {
        p.services.keys().map(String::as_str).collect()
    }

    #[test]
    fn only_services_without_profiles_by_default() {
        let p = load(&[]);
        assert_eq!(names(&p), ["web"]);
        assert_eq!(p.disabled.len(), 3);
        plan::validate(&p).unwrap();
        assert_eq!(p.all_profiles(), ["debug", "dev"]);
    }

    #[test]
    fn compose_profiles_and_flags() {
        let p = load(&[("COMPOSE_PROFILES", "dev")]);
        assert_eq!(names(&p), ["db", "mock-backend", "web"]);
        plan::validate(&p).unwrap();
        let p = load(&[("COMPOSE_PROFILES", " debug , dev,")]);
        assert_eq!(p.services.len(), 4);
        let p = load(&[("COMPOSE_PROFILES", "*")]);
        assert_eq!(p.services.len(), 4);
        // Flags win over the variable.
        let vars: Vars = [("COMPOSE_PROFILES".to_string(), "dev".to_string())]
            .into_iter()
            .collect();
        assert_eq!(active_profiles(&["debug".into()], &vars), ["debug"]);
        assert_eq!(active_profiles(&[], &vars), ["dev"]);
    }

    #[test]
    fn named_services_bring_their_profiles() {
        let mut p = load(&[]);
        p.enable_services(&["mock-backend".into()]).unwrap();
        assert_eq!(names(&p), ["db", "mock-backend", "web"]);
        assert_eq!(
            plan::order(&p, &["mock-backend".into()]).unwrap(),
            ["db", "mock-backend"]
        );
        // phpmyadmin's debug profile does not enable db (dev): an error naming both.
        let mut p = load(&[]);
        p.enable_services(&["phpmyadmin".into()]).unwrap();
        let e = plan::validate(&p).unwrap_err();
        assert!(
            matches!(e, ComposeError::DisabledDependency { .. }),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(
            e.starts_with("/p/app/compose.yml: service \"phpmyadmin\", field \"depends_on\"")
                && e.contains("service \"db\"")
                && e.contains("--profile dev"),
            "{e}"
        );
        let e = plan::order(&p, &["phpmyadmin".into()]).unwrap_err();
        assert!(
            matches!(e, ComposeError::DisabledDependency { .. }),
            "{e:?}"
        );
        assert!(matches!(
            load(&[]).enable_services(&["nope".into()]),
            Err(ComposeError::NoSuchService(_))
        ));
    }

    #[test]
    fn optional_dependencies_may_be_disabled() {
        let t = "services:\n  app:\n    image: x\n    depends_on:\n      db: {condition: service_started, required: false}\n      cache: {required: false}\n  db:\n    image: x\n    profiles: [dev]\n";
        let mut p = load_str(Path::new("/p/app/compose.yml"), t, HashMap::new(), None).unwrap();
        plan::validate(&p).unwrap();
        assert_eq!(plan::order(&p, &["app".into()]).unwrap(), ["app"]);
        p.apply_profiles(vec!["dev".into()]);
        assert_eq!(plan::order(&p, &["app".into()]).unwrap(), ["db", "app"]);
    }

    #[test]
    fn invalid_profile_names() {
        let e = load_str(
            Path::new("/p/app/compose.yml"),
            "services:\n  a:\n    image: x\n    profiles: ['-bad']\n",
            HashMap::new(),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("field \"profiles\"") && e.contains("invalid profile"),
            "{e}"
        );
    }
}
