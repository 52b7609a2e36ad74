//! What the containers do not say of a compose project but its files do:
//! each service's `depends_on`. Compose v2 writes it into a label
//! (`com.docker.compose.depends_on`); otherwise the files the project was
//! started from are read, when this machine can read them
//! (`com.docker.compose.project.config_files`, relative to
//! `…project.working_dir`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::docker::Surveyed;

const DEPENDS_ON_LABEL: &str = "com.docker.compose.depends_on";
const CONFIG_FILES_LABEL: &str = "com.docker.compose.project.config_files";
const WORKING_DIR_LABEL: &str = "com.docker.compose.project.working_dir";
/// A compose file larger than this is not read.
const FILE_CAP: u64 = 4 * 1024 * 1024;

/// Each service's dependencies, and where they were read.
#[derive(Debug)]
pub(super) struct Dependencies {
    pub by_service: BTreeMap<String, Vec<String>>,
    /// The compose files read, or why none could be.
    pub source: Result<Vec<PathBuf>, String>,
}

impl Default for Dependencies {
    fn default() -> Dependencies {
        Dependencies {
            by_service: BTreeMap::new(),
            source: Ok(Vec::new()),
        }
    }
}

/// The dependencies of `services`: from their labels, else from the
/// compose files their labels name.
pub(super) fn dependencies(services: &[Surveyed]) -> Dependencies {
    if services
        .iter()
        .any(|s| s.labels.contains_key(DEPENDS_ON_LABEL))
    {
        let by_service = services
            .iter()
            .map(|s| {
                (
                    s.service.clone(),
                    from_label(s.labels.get(DEPENDS_ON_LABEL)),
                )
            })
            .collect();
        return Dependencies {
            by_service,
            source: Ok(Vec::new()),
        };
    }
    let Some(labels) = services.first().map(|s| &s.labels) else {
        return Dependencies::default();
    };
    let Some(files) = labels.get(CONFIG_FILES_LABEL) else {
        return Dependencies {
            source: Err("its containers do not name their compose files".into()),
            ..Dependencies::default()
        };
    };
    let base = labels.get(WORKING_DIR_LABEL).map(PathBuf::from);
    let paths: Vec<PathBuf> = files
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| match &base {
            Some(base) => base.join(f),
            None => PathBuf::from(f),
        })
        .collect();
    let mut by_service: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in &paths {
        match read(path) {
            Ok(file) => merge(&file, &mut by_service),
            Err(reason) => {
                return Dependencies {
                    source: Err(format!("{}: {reason}", path.display())),
                    ..Dependencies::default()
                };
            }
        }
    }
    Dependencies {
        by_service,
        source: Ok(paths),
    }
}

/// `db:service_healthy:false,cache:service_started:false`.
fn from_label(label: Option<&String>) -> Vec<String> {
    label
        .map(|l| {
            l.split(',')
                .filter_map(|entry| entry.split(':').next())
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn read(path: &Path) -> Result<Value, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > FILE_CAP {
        return Err(format!("larger than {FILE_CAP} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_saphyr::from_str::<Value>(&text).map_err(|e| crate::error::one_line(&e))
}

/// A later file's `depends_on` for a service replaces an earlier one's.
fn merge(file: &Value, by_service: &mut BTreeMap<String, Vec<String>>) {
    let Some(services) = file.get("services").and_then(Value::as_object) else {
        return;
    };
    for (service, spec) in services {
        let names: Vec<String> = match spec.get("depends_on") {
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::Object(map)) => map.keys().cloned().collect(),
            _ => continue,
        };
        by_service.insert(service.clone(), names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_conditions_both_name_the_dependencies() {
        let file: Value = serde_saphyr::from_str(
            "services:\n  db: { image: postgres }\n  api:\n    depends_on: [db, cache]\n  web:\n    depends_on:\n      api: { condition: service_healthy }\n",
        )
        .expect("a compose file");
        let mut by_service = BTreeMap::new();
        merge(&file, &mut by_service);
        assert_eq!(
            format!("{by_service:?}"),
            r#"{"api": ["db", "cache"], "web": ["api"]}"#
        );
        assert_eq!(
            from_label(Some(
                &"db:service_healthy:false,cache:service_started:true".into()
            )),
            ["db", "cache"]
        );
    }
}
