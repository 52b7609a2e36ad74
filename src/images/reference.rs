//! An image name as the Docker CLI reads it: `nginx:1.27` is
//! `docker.io/library/nginx` tag `1.27`; `127.0.0.1:5000/app` is registry
//! `127.0.0.1:5000`, repository `app`, tag `latest`; `app@sha256:…` is
//! pinned to a digest.

/// Where an image name points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reference {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// `library/nginx`, `acme/api`.
    pub repository: String,
    /// The tag, or the digest when the name is pinned (`sha256:…`).
    pub tag: String,
    pub pinned: bool,
}

impl Reference {
    /// `name` read; None for what no registry serves (an image id).
    pub(super) fn parse(name: &str) -> Option<Reference> {
        if name.starts_with("sha256:") || name.is_empty() {
            return None;
        }
        let (rest, digest) = match name.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (name, None),
        };
        let (first, after) = match rest.split_once('/') {
            Some((first, after))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), after.to_string())
            }
            _ => ("docker.io".to_string(), rest.to_string()),
        };
        let (repository, tag) = match after.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, tag),
            _ => (after.as_str(), "latest"),
        };
        let repository = if first == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        Some(Reference {
            registry: first,
            repository,
            tag: digest.unwrap_or(tag).to_string(),
            pinned: digest.is_some(),
        })
    }

    /// The name a registry digest of this image starts with, as the engine
    /// records it in `RepoDigests` (`nginx`, `127.0.0.1:5000/app`).
    pub(super) fn digest_name(&self) -> String {
        match (
            self.registry.as_str(),
            self.repository.strip_prefix("library/"),
        ) {
            ("docker.io", Some(short)) => short.to_string(),
            ("docker.io", None) => self.repository.clone(),
            (registry, _) => format!("{registry}/{}", self.repository),
        }
    }

    /// The registry's address for its API: Docker Hub's is another host.
    pub(super) fn api_base(&self) -> String {
        let host = match self.registry.as_str() {
            "docker.io" => "registry-1.docker.io",
            other => other,
        };
        // A registry on loopback speaks plain HTTP, as the engine allows.
        let plain =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        let scheme = if plain { "http" } else { "https" };
        format!("{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::Reference;

    fn read(name: &str) -> (String, String, String, bool) {
        let r = Reference::parse(name).expect("a name");
        (r.registry, r.repository, r.tag, r.pinned)
    }

    #[test]
    fn names_are_read_as_the_docker_cli_reads_them() {
        let owned = |a: &str, b: &str, c: &str, d| (a.to_string(), b.to_string(), c.to_string(), d);
        assert_eq!(
            read("nginx"),
            owned("docker.io", "library/nginx", "latest", false)
        );
        assert_eq!(
            read("nginx:1.27"),
            owned("docker.io", "library/nginx", "1.27", false)
        );
        assert_eq!(
            read("acme/api:2"),
            owned("docker.io", "acme/api", "2", false)
        );
        assert_eq!(
            read("127.0.0.1:5000/app"),
            owned("127.0.0.1:5000", "app", "latest", false)
        );
        assert_eq!(
            read("ghcr.io/acme/api:1.2@sha256:ab"),
            owned("ghcr.io", "acme/api", "sha256:ab", true)
        );
        assert_eq!(
            read("localhost/app:3"),
            owned("localhost", "app", "3", false)
        );
        assert!(Reference::parse("sha256:0123").is_none());
        assert_eq!(
            Reference::parse("nginx").expect("a name").digest_name(),
            "nginx"
        );
        assert_eq!(
            Reference::parse("127.0.0.1:5000/app:1")
                .expect("a name")
                .digest_name(),
            "127.0.0.1:5000/app"
        );
        assert_eq!(
            Reference::parse("127.0.0.1:5000/app")
                .expect("a name")
                .api_base(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            Reference::parse("nginx").expect("a name").api_base(),
            "https://registry-1.docker.io"
        );
    }
}
