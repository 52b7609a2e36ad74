//! Docker's own disk use, as `docker system df` shows it: images,
//! containers' writable layers, volumes and the build cache, each with the
//! part that could be reclaimed (unused images, stopped containers,
//! unmounted volumes, idle cache).
//!
//! Engines answer `/system/df` in two shapes: newer ones (API 1.52 and up)
//! with totals bollard's model reads, older ones (Debian's 20.10, API 1.41)
//! with the lists the totals are summed from, which the model drops. For
//! those the raw answer is read and summed the way the docker CLI sums it.

use futures_util::StreamExt;
use serde::Deserialize;

use super::Deployment;
use crate::error::Error;

/// The largest `/system/df` answer read (a host with thousands of images
/// stays well below it).
const ANSWER_CAP: usize = 64 * 1024 * 1024;

/// The container `export_container` is asked for: its request is
/// redirected to `/system/df` before it leaves (bollard has no raw GET).
const PLACEHOLDER: &str = "opsbook-system-df";

/// One kind of Docker data on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KindUse {
    pub count: u64,
    pub bytes: u64,
    pub reclaimable: u64,
}

/// `docker system df`, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DiskUse {
    pub images: KindUse,
    pub containers: KindUse,
    pub volumes: KindUse,
    pub build_cache: KindUse,
}

impl DiskUse {
    /// Every kind's bytes; figures past what a u64 holds (an engine's
    /// nonsense) stay at its largest rather than wrap to a small number.
    pub(crate) fn total(&self) -> u64 {
        [self.images, self.containers, self.volumes, self.build_cache]
            .iter()
            .fold(0, |total, kind| total.saturating_add(kind.bytes))
    }
}

impl Deployment {
    /// Docker's disk use on this engine (every project's, as `docker system df`).
    pub(crate) async fn disk_use(&self) -> Result<DiskUse, Error> {
        let typed = self
            .docker
            .df(None::<bollard::query_parameters::DataUsageOptions>)
            .await
            .map_err(|e| self.failed("reading Docker's disk use", e))?;
        if let Some(used) = from_totals(&typed) {
            return Ok(used);
        }
        let redirected = self.docker.clone().with_request_modifier(|mut request| {
            let asked = format!("/containers/{PLACEHOLDER}/export");
            let uri = request.uri().to_string().replacen(&asked, "/system/df", 1);
            if let Ok(uri) = uri.parse() {
                *request.uri_mut() = uri;
            }
            request
        });
        let mut answer = Vec::new();
        let mut stream = redirected.export_container(PLACEHOLDER);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed("reading Docker's disk use", e))?;
            if answer.len() + chunk.len() > ANSWER_CAP {
                return Err(Error::Usage(format!(
                    "Docker's disk use answer is over {} MiB: not read",
                    ANSWER_CAP >> 20
                )));
            }
            answer.extend_from_slice(&chunk);
        }
        let listed: Listed = serde_json::from_slice(&answer).map_err(|e| {
            Error::Usage(format!(
                "Docker ({}) answered /system/df in a shape opsbook does not know: {e}",
                self.endpoint
            ))
        })?;
        Ok(listed.summed())
    }
}

/// The newer answer's totals, when the engine gave them.
fn from_totals(typed: &bollard::models::SystemDataUsageResponse) -> Option<DiskUse> {
    let image = typed.image_usage.as_ref()?;
    let size = |n: Option<i64>| n.map_or(0, |n| n.max(0) as u64);
    let containers = typed.container_usage.as_ref();
    let volumes = typed.volume_usage.as_ref();
    let cache = typed.build_cache_usage.as_ref();
    Some(DiskUse {
        images: KindUse {
            count: size(image.total_count),
            bytes: size(image.total_size),
            reclaimable: size(image.reclaimable),
        },
        containers: KindUse {
            count: size(containers.and_then(|c| c.total_count)),
            bytes: size(containers.and_then(|c| c.total_size)),
            reclaimable: size(containers.and_then(|c| c.reclaimable)),
        },
        volumes: KindUse {
            count: size(volumes.and_then(|v| v.total_count)),
            bytes: size(volumes.and_then(|v| v.total_size)),
            reclaimable: size(volumes.and_then(|v| v.reclaimable)),
        },
        build_cache: KindUse {
            count: size(cache.and_then(|c| c.total_count)),
            bytes: size(cache.and_then(|c| c.total_size)),
            reclaimable: size(cache.and_then(|c| c.reclaimable)),
        },
    })
}

/// The older answer: lists, summed as the docker CLI sums them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Listed {
    layers_size: i64,
    images: Option<Vec<ListedImage>>,
    containers: Option<Vec<ListedContainer>>,
    volumes: Option<Vec<ListedVolume>>,
    build_cache: Option<Vec<ListedCache>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListedImage {
    containers: i64,
    size: i64,
    shared_size: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListedContainer {
    size_rw: i64,
    state: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListedVolume {
    usage_data: Option<VolumeUsage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct VolumeUsage {
    size: i64,
    ref_count: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListedCache {
    size: i64,
    in_use: bool,
    shared: bool,
}

impl Listed {
    fn summed(self) -> DiskUse {
        // The engine's figures, summed without wrapping: a negative one
        // (-1: not computed) counts 0, a sum past u64 stays at its largest.
        let bytes = |n: i64| n.max(0) as u64;
        let sum = |sizes: &mut dyn Iterator<Item = i64>| {
            sizes.fold(0u64, |total, n| total.saturating_add(bytes(n)))
        };
        let images = self.images.unwrap_or_default();
        // The layers images in use hold alone; what is left could go.
        let used = sum(&mut images
            .iter()
            .filter(|i| i.containers > 0 && i.shared_size >= 0)
            .map(|i| i.size.saturating_sub(i.shared_size)));
        let containers = self.containers.unwrap_or_default();
        let volumes: Vec<VolumeUsage> = self
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.usage_data)
            .collect();
        // Shared cache records are counted through the records they share.
        let cache: Vec<ListedCache> = self
            .build_cache
            .unwrap_or_default()
            .into_iter()
            .filter(|c| !c.shared)
            .collect();
        DiskUse {
            images: KindUse {
                count: images.len() as u64,
                bytes: bytes(self.layers_size),
                reclaimable: bytes(self.layers_size).saturating_sub(used),
            },
            containers: KindUse {
                count: containers.len() as u64,
                bytes: sum(&mut containers.iter().map(|c| c.size_rw)),
                reclaimable: sum(&mut containers
                    .iter()
                    .filter(|c| c.state != "running")
                    .map(|c| c.size_rw)),
            },
            volumes: KindUse {
                count: volumes.len() as u64,
                bytes: sum(&mut volumes.iter().map(|v| v.size)),
                reclaimable: sum(&mut volumes.iter().filter(|v| v.ref_count == 0).map(|v| v.size)),
            },
            build_cache: KindUse {
                count: cache.len() as u64,
                bytes: sum(&mut cache.iter().map(|c| c.size)),
                reclaimable: sum(&mut cache.iter().filter(|c| !c.in_use).map(|c| c.size)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_answer_is_summed_as_the_cli_sums_it() {
        let answer = r#"{"LayersSize":1000,
          "Images":[{"Containers":1,"Size":600,"SharedSize":100},{"Containers":0,"Size":500,"SharedSize":100}],
          "Containers":[{"SizeRw":10,"State":"running"},{"SizeRw":7,"State":"exited"}],
          "Volumes":[{"UsageData":{"Size":300,"RefCount":1}},{"UsageData":{"Size":-1,"RefCount":0}},{"UsageData":{"Size":40,"RefCount":0}}],
          "BuildCache":[{"Size":50,"InUse":false,"Shared":false},{"Size":20,"InUse":true,"Shared":false},{"Size":99,"InUse":false,"Shared":true}]}"#;
        let listed: Listed = serde_json::from_str(answer).expect("parses");
        let used = listed.summed();
        assert_eq!(
            used,
            DiskUse {
                images: KindUse {
                    count: 2,
                    bytes: 1000,
                    reclaimable: 500
                },
                containers: KindUse {
                    count: 2,
                    bytes: 17,
                    reclaimable: 7
                },
                volumes: KindUse {
                    count: 3,
                    bytes: 340,
                    reclaimable: 40
                },
                build_cache: KindUse {
                    count: 2,
                    bytes: 70,
                    reclaimable: 50
                },
            }
        );
        assert_eq!(used.total(), 1427);
    }

    #[test]
    fn figures_past_what_a_u64_holds_stay_at_its_largest_instead_of_wrapping() {
        let max = i64::MAX;
        let answer = format!(
            r#"{{"LayersSize":{max},
              "Images":[{{"Containers":1,"Size":{max},"SharedSize":0}},{{"Containers":1,"Size":{max},"SharedSize":0}},{{"Containers":1,"Size":-9223372036854775808,"SharedSize":1}}],
              "Containers":[{{"SizeRw":{max},"State":"exited"}},{{"SizeRw":{max},"State":"exited"}},{{"SizeRw":{max},"State":"exited"}}],
              "Volumes":[{{"UsageData":{{"Size":{max},"RefCount":0}}}},{{"UsageData":{{"Size":{max},"RefCount":0}}}},{{"UsageData":{{"Size":{max},"RefCount":0}}}}]}}"#
        );
        let listed: Listed = serde_json::from_str(&answer).expect("parses");
        let used = listed.summed();
        // Two images of i64::MAX each hold more than the layers: nothing to reclaim.
        assert_eq!(used.images.bytes, max as u64);
        assert_eq!(used.images.reclaimable, 0);
        assert_eq!(used.containers.bytes, u64::MAX);
        assert_eq!(used.volumes.reclaimable, u64::MAX);
        assert_eq!(used.total(), u64::MAX);
    }

    #[test]
    fn an_empty_engine_answers_nulls() {
        let answer = r#"{"LayersSize":0,"Images":[],"Containers":[],"Volumes":[],"BuildCache":null,"BuilderSize":0}"#;
        let listed: Listed = serde_json::from_str(answer).expect("parses");
        assert_eq!(listed.summed(), DiskUse::default());
    }
}
