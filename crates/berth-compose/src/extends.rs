//! `extends:` as compose v2 resolves it (compose-go `loader/extends.go`): a service
//! starts from another service's definition, in the same file (`extends: base` or
//! `extends: {service: base}`) or in another one (`extends: {service: base, file:
//! common.yml}`), and its own keys are merged over it with [`crate::merge`]'s rules.
//!
//! - Each top-level file's `extends` are resolved before the `-f` files are merged.
//! - An extended file is read, interpolated and parsed like any compose file; its
//!   relative paths (`build`, `env_file`, bind `volumes`, nested `extends.file`) are
//!   made absolute against *its* directory before anything is merged.
//! - `extends.file` of a top-level file is relative to the project directory.
//! - A chain that comes back to a service it went through is an error naming it.
//! - Fields a service inherits remember where they came from, so a mistake in an
//!   extended file is reported at that file, service and field.

use crate::error::{ComposeError, Result, Where};
use crate::interp::Vars;
use crate::load::{clean, find_field_line, key_string, parse_source, scalar, Source};
use crate::merge;
use crate::model::Format;
use serde_yaml_ng::{Mapping, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Where an inherited field was written.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub path: PathBuf,
    pub text: Rc<String>,
    pub format: Format,
    /// The service's name in that file.
    pub service: String,
}

/// A file whose services can be extended.
struct FileData {
    path: PathBuf,
    text: Rc<String>,
    format: Format,
    /// Where its relative `extends.file` paths start.
    dir: PathBuf,
    services: Vec<(String, Mapping)>,
}

impl FileData {
    fn get(&self, name: &str) -> Option<&Mapping> {
        self.services
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m)
    }

    fn origin(&self, service: &str) -> Origin {
        Origin {
            path: self.path.clone(),
            text: self.text.clone(),
            format: self.format.clone(),
            service: service.to_string(),
        }
    }

    fn err(&self, service: &str, msg: String) -> ComposeError {
        ComposeError::Field {
            at: Where {
                file: self.path.clone(),
                line: find_field_line(&self.text, &self.format, service, "extends"),
            },
            service: service.to_string(),
            field: "extends".into(),
            msg,
        }
    }
}

struct Resolver<'a> {
    vars: &'a Vars,
    files: HashMap<PathBuf, Rc<FileData>>,
}

type Resolved = (Mapping, HashMap<String, Origin>);

/// Resolves the `extends` of every service of `src` (a top-level file, whose
/// `extends.file` paths are relative to `project_dir`), recording in `src.origins`
/// the fields each service inherited.
pub(crate) fn resolve_file(src: &mut Source, project_dir: &Path, vars: &Vars) -> Result<()> {
    if !src.services.iter().any(|(_, m)| m.contains_key("extends")) {
        return Ok(());
    }
    let main = Rc::new(FileData {
        path: src.path.clone(),
        text: Rc::new(src.text.clone()),
        format: src.format.clone(),
        dir: project_dir.to_path_buf(),
        services: src.services.clone(),
    });
    let mut r = Resolver {
        vars,
        files: HashMap::new(),
    };
    for (name, m) in src.services.iter_mut() {
        if !m.contains_key("extends") {
            continue;
        }
        let mut chain = vec![(main.path.clone(), name.clone())];
        let (merged, origins) = r.resolve(&main, name, &mut chain)?;
        *m = merged;
        src.origins.insert(name.clone(), origins);
    }
    Ok(())
}

impl Resolver<'_> {
    fn resolve(
        &mut self,
        file: &Rc<FileData>,
        name: &str,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<Resolved> {
        let Some(m) = file.get(name) else {
            return Err(ComposeError::Other(format!(
                "{}: no service {name:?}",
                file.path.display()
            )));
        };
        let Some(ext) = m.get("extends") else {
            return Ok((m.clone(), HashMap::new()));
        };
        let (base_name, base_file) = match ext {
            Value::Mapping(e) => {
                for k in e.keys() {
                    let k = key_string(k);
                    if k != "service" && k != "file" {
                        return Err(file.err(name, format!("unsupported extends option {k:?}")));
                    }
                }
                let Some(svc) = e.get("service").and_then(scalar) else {
                    return Err(file.err(name, "extends.service is required".into()));
                };
                let f =
                    match e.get("file") {
                        None | Some(Value::Null) => None,
                        Some(v) => Some(scalar(v).ok_or_else(|| {
                            file.err(name, "extends.file must be a string".into())
                        })?),
                    };
                (svc, f)
            }
            Value::String(s) => (s.clone(), None),
            o => {
                return Err(file.err(
                    name,
                    format!(
                        "must be a service name or a mapping with service (and file), not {}",
                        crate::load::yaml_type(o)
                    ),
                ))
            }
        };
        let target = match &base_file {
            None => file.clone(),
            Some(f) => self.load(file, name, f)?,
        };
        if target.get(&base_name).is_none() {
            return Err(file.err(
                name,
                format!(
                    "cannot extend service {name:?}: service {base_name:?} not found in {}",
                    target.path.display()
                ),
            ));
        }
        let key = (target.path.clone(), base_name.clone());
        if chain.contains(&key) {
            let mut steps: Vec<String> = chain
                .iter()
                .map(|(p, s)| format!("{s} in {}", p.display()))
                .collect();
            steps.push(format!("{base_name} in {}", target.path.display()));
            let (first_file, first_svc) = &chain[0];
            return Err(ComposeError::Field {
                at: Where {
                    file: first_file.clone(),
                    line: None,
                },
                service: first_svc.clone(),
                field: "extends".into(),
                msg: format!("circular reference: {}", steps.join(" extends ")),
            });
        }
        chain.push(key);
        let (base, mut origins) = self.resolve(&target, &base_name, chain)?;
        chain.pop();
        let mut own = m.clone();
        own.remove("extends");
        for k in base.keys() {
            let k = key_string(k);
            origins
                .entry(k)
                .or_insert_with(|| target.origin(&base_name));
        }
        for k in own.keys() {
            origins.remove(&key_string(k));
        }
        let merged = merge::merge_service(base, own).map_err(|msg| file.err(name, msg))?;
        Ok((merged, origins))
    }

    /// Reads an extended file (once), its relative paths made absolute.
    fn load(&mut self, from: &FileData, service: &str, rel: &str) -> Result<Rc<FileData>> {
        let path = clean(&from.dir.join(rel));
        if let Some(f) = self.files.get(&path) {
            return Ok(f.clone());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            from.err(
                service,
                format!("cannot read extended file {}: {e}", path.display()),
            )
        })?;
        let src = parse_source(&path, text, self.vars)?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| from.dir.clone());
        let mut services = src.services;
        for (_, m) in services.iter_mut() {
            absolutize(m, &dir);
        }
        let f = Rc::new(FileData {
            path: path.clone(),
            text: Rc::new(src.text),
            format: src.format,
            dir,
            services,
        });
        self.files.insert(path, f.clone());
        Ok(f)
    }
}

fn is_relative(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.starts_with('~') && !p.contains("://")
}

fn abs(dir: &Path, p: &str) -> String {
    clean(&dir.join(p)).to_string_lossy().into_owned()
}

/// Makes a raw service's relative host paths absolute against `dir`.
pub(crate) fn absolutize(m: &mut Mapping, dir: &Path) {
    for (k, v) in m.iter_mut() {
        match key_string(k).as_str() {
            "build" => match v {
                Value::String(s) if is_relative(s) => *s = abs(dir, s),
                Value::Mapping(b) => {
                    let ctx = b.get("context").and_then(scalar).unwrap_or(".".into());
                    if is_relative(&ctx) {
                        b.insert("context".into(), Value::String(abs(dir, &ctx)));
                    }
                }
                _ => {}
            },
            "env_file" => {
                let fix = |x: &mut Value| match x {
                    Value::String(s) if is_relative(s) => *s = abs(dir, s),
                    Value::Mapping(e) => {
                        if let Some(p) = e.get("path").and_then(scalar) {
                            if is_relative(&p) {
                                e.insert("path".into(), Value::String(abs(dir, &p)));
                            }
                        }
                    }
                    _ => {}
                };
                match v {
                    Value::Sequence(s) => s.iter_mut().for_each(fix),
                    o => fix(o),
                }
            }
            "volumes" => {
                if let Value::Sequence(s) = v {
                    for x in s.iter_mut() {
                        match x {
                            Value::String(spec) => {
                                if let Some((src, rest)) = spec.split_once(':') {
                                    if src.starts_with('.') {
                                        *spec = format!("{}:{rest}", abs(dir, src));
                                    }
                                }
                            }
                            Value::Mapping(vm) => {
                                let bind =
                                    vm.get("type").and_then(scalar).as_deref() == Some("bind");
                                if let Some(src) = vm.get("source").and_then(scalar) {
                                    if (bind && is_relative(&src)) || src.starts_with('.') {
                                        vm.insert("source".into(), Value::String(abs(dir, &src)));
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            "extends" => {
                if let Value::Mapping(e) = v {
                    if let Some(f) = e.get("file").and_then(scalar) {
                        if is_relative(&f) {
                            e.insert("file".into(), Value::String(abs(dir, &f)));
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute() {
        let mut m: Mapping = serde_yaml_ng::from_str(
            "build: {dockerfile: D}\nenv_file: [a.env, {path: ../b.env}, /abs.env]\nvolumes: ['./data:/data:ro', 'named:/n', {type: bind, source: x, target: /x}, '/h:/h']\nextends: {file: ../c.yml, service: s}\n",
        )
        .unwrap();
        absolutize(&mut m, Path::new("/p/sub"));
        let want: Mapping = serde_yaml_ng::from_str(
            "build: {dockerfile: D, context: /p/sub}\nenv_file: [/p/sub/a.env, {path: /p/b.env}, /abs.env]\nvolumes: ['/p/sub/data:/data:ro', 'named:/n', {type: bind, source: /p/sub/x, target: /x}, '/h:/h']\nextends: {file: /p/c.yml, service: s}\n",
        )
        .unwrap();
        assert_eq!(m, want);
    }
}
