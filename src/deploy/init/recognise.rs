//! The software a service runs, told by its image's name, else by its
//! command, else by the processes running in it (a local build named
//! `shop-db` whose entrypoint script ends in `postgres`), and what opsbook
//! does with each: a dump and its restore, a readiness check, a step
//! before the backup. Credentials are the container's own variables,
//! referenced by name in a shell in the container: never a value.

use crate::docker::Surveyed;

/// Software opsbook knows how to dump, restore and check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Postgres,
    Mysql,
    Mongo,
    Redis,
    Nginx,
}

/// What a service's kind gives the runbook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Recipe {
    /// A dump (`sh -c` in the container) and the command it is restored with.
    pub dump: Option<(String, String)>,
    /// An exec check: its name's suffix, its command and what its output holds.
    pub check: Option<(&'static str, Vec<String>, Option<&'static str>)>,
    /// A command run in the service before the volumes are copied.
    pub before_backup: Option<Vec<String>>,
}

/// Names in an image (its last path part, tag left out) and in a command's
/// first word (its file name), by kind.
const NAMES: [(Kind, &[&str]); 5] = [
    (
        Kind::Postgres,
        &["postgres", "timescaledb", "postgis", "pgvector"],
    ),
    (
        Kind::Mysql,
        &["mysql", "mysqld", "mariadb", "mariadbd", "percona"],
    ),
    (Kind::Mongo, &["mongo", "mongod", "mongodb"]),
    (
        Kind::Redis,
        &["redis", "redis-server", "valkey", "valkey-server"],
    ),
    (Kind::Nginx, &["nginx"]),
];

impl Kind {
    pub(super) fn named(self) -> &'static str {
        match self {
            Kind::Postgres => "PostgreSQL",
            Kind::Mysql => "MySQL/MariaDB",
            Kind::Mongo => "MongoDB",
            Kind::Redis => "Redis",
            Kind::Nginx => "nginx",
        }
    }

    /// A server that does not speak HTTP on its ports.
    pub(super) fn speaks_http(self) -> bool {
        self == Kind::Nginx
    }
}

/// The kind of software `service` runs, with what told it.
pub(super) fn recognise(service: &Surveyed) -> Option<(Kind, &'static str)> {
    let image = service.image.rsplit('/').next().unwrap_or_default();
    let image = image.split(['@', ':']).next().unwrap_or_default();
    if let Some(kind) = by_name(image, true) {
        return Some((kind, "image"));
    }
    let first_words = |line: &str| {
        line.split_whitespace()
            .take(2)
            .map(|w| {
                w.rsplit('/')
                    .next()
                    .unwrap_or(w)
                    .trim_end_matches(':')
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    let command: Vec<String> = service
        .command
        .iter()
        .take(2)
        .map(|w| w.rsplit('/').next().unwrap_or(w).to_string())
        .collect();
    if let Some(kind) = command.iter().find_map(|w| by_name(w, false)) {
        return Some((kind, "command"));
    }
    service
        .processes
        .iter()
        .flat_map(|line| first_words(line))
        .find_map(|w| by_name(&w, false))
        .map(|kind| (kind, "processes"))
}

/// The kind a name says: an image name may carry more (`postgres-15`,
/// `bitnami-redis`), a program's name is exact.
fn by_name(name: &str, image: bool) -> Option<Kind> {
    let name = name.to_ascii_lowercase();
    NAMES.iter().find_map(|(kind, names)| {
        let hit = if image {
            name.split(['-', '_', '.'])
                .any(|part| names.contains(&part))
                || names.contains(&name.as_str())
        } else {
            names.contains(&name.as_str())
        };
        hit.then_some(*kind)
    })
}

/// What `kind` gives a service whose environment has `env` (names only).
pub(super) fn recipe(kind: Kind, env: &[String]) -> Recipe {
    let has = |name: &str| env.iter().any(|e| e == name);
    let first = |names: &[&'static str]| names.iter().copied().find(|n| has(n));
    match kind {
        Kind::Postgres => postgres(),
        Kind::Mysql => mysql(first(&["MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"])),
        Kind::Mongo => {
            mongo(has("MONGO_INITDB_ROOT_USERNAME") && has("MONGO_INITDB_ROOT_PASSWORD"))
        }
        Kind::Redis => redis(first(&["REDIS_PASSWORD", "REDISCLI_AUTH"])),
        Kind::Nginx => Recipe {
            check: Some(("config", argv(&["nginx", "-t"]), None)),
            ..Recipe::default()
        },
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn shell(script: String) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script]
}

/// The database of the official image's variables (`POSTGRES_DB`, else
/// `POSTGRES_USER`, else `postgres`), dumped whole and put back in one
/// transaction that stops at the first error.
fn postgres() -> Recipe {
    let user = r#"-U "${POSTGRES_USER:-postgres}""#;
    let database = r#"-d "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}""#;
    Recipe {
        dump: Some((
            format!("pg_dump {user} {database} --clean --if-exists"),
            format!("psql -q -v ON_ERROR_STOP=1 --single-transaction {user} {database}"),
        )),
        check: Some((
            "ready",
            shell(format!("pg_isready {user}")),
            Some("accepting connections"),
        )),
        before_backup: None,
    }
}

/// Every database, read in one consistent snapshot, as root with the
/// password from the image's variable (`MYSQL_PWD`, never an argument).
fn mysql(password: Option<&str>) -> Recipe {
    let login = password.map_or(String::new(), |p| format!("MYSQL_PWD=\"${p}\" "));
    let program = |names: &str| format!("$(command -v {names})");
    Recipe {
        dump: Some((
            format!(
                "{login}exec {} -uroot --all-databases --single-transaction --routines --events",
                program("mariadb-dump || command -v mysqldump")
            ),
            format!(
                "{login}exec {} -uroot",
                program("mariadb || command -v mysql")
            ),
        )),
        check: Some((
            "ready",
            shell(format!(
                "{login}exec {} -uroot ping",
                program("mariadb-admin || command -v mysqladmin")
            )),
            Some("alive"),
        )),
        before_backup: None,
    }
}

/// Every database as one archive, put back over what is there.
fn mongo(auth: bool) -> Recipe {
    let login = if auth {
        r#" --username "$MONGO_INITDB_ROOT_USERNAME" --password "$MONGO_INITDB_ROOT_PASSWORD" --authenticationDatabase admin"#
    } else {
        ""
    };
    Recipe {
        dump: Some((
            format!("exec mongodump --archive --quiet{login}"),
            format!("exec mongorestore --archive --drop --quiet{login}"),
        )),
        check: Some((
            "ready",
            shell(format!(
                "exec $(command -v mongosh || command -v mongo) --quiet{login} --eval 'db.adminCommand(\"ping\").ok'"
            )),
            Some("1"),
        )),
        before_backup: None,
    }
}

/// Redis's snapshot written (`SAVE`) before its volume is copied, and a PING.
fn redis(password: Option<&str>) -> Recipe {
    let cli = |args: &str| match password {
        Some(p) => shell(format!("REDISCLI_AUTH=\"${p}\" exec redis-cli {args}")),
        None => argv(&["redis-cli", args]),
    };
    Recipe {
        dump: None,
        check: Some(("ping", cli("ping"), Some("PONG"))),
        before_backup: Some(cli("SAVE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn surveyed(image: &str, command: &[&str], processes: &[&str]) -> Surveyed {
        Surveyed {
            image: image.into(),
            command: argv(command),
            processes: argv(processes),
            ..Surveyed::default()
        }
    }

    #[test]
    fn images_commands_and_processes_tell_the_kind() {
        let cases = [
            (
                surveyed("postgres:16-alpine", &[], &[]),
                Some((Kind::Postgres, "image")),
            ),
            (
                surveyed("timescale/timescaledb:latest-pg15", &[], &[]),
                Some((Kind::Postgres, "image")),
            ),
            (
                surveyed("bitnami/redis:7.2", &[], &[]),
                Some((Kind::Redis, "image")),
            ),
            (
                surveyed("mariadb:11", &[], &[]),
                Some((Kind::Mysql, "image")),
            ),
            (
                surveyed(
                    "registry.local:5000/shop-db:1",
                    &["/usr/bin/mongod", "--bind_ip_all"],
                    &[],
                ),
                Some((Kind::Mongo, "command")),
            ),
            (
                surveyed(
                    "opsbook-real:test",
                    &["pg-serve"],
                    &[
                        "/usr/lib/postgresql/15/bin/postgres -D /data",
                        "postgres: checkpointer ",
                    ],
                ),
                Some((Kind::Postgres, "processes")),
            ),
            (
                surveyed(
                    "shop-web",
                    &["nginx-proxy"],
                    &["nginx: master process nginx", "nginx: worker process"],
                ),
                Some((Kind::Nginx, "processes")),
            ),
            (
                surveyed("shop-api", &["python3", "app.py"], &["python3 app.py"]),
                None,
            ),
            (surveyed("monkeybusiness", &[], &[]), None),
        ];
        for (service, expected) in cases {
            assert_eq!(recognise(&service), expected, "{service:?}");
        }
    }

    #[test]
    fn credentials_are_named_never_copied() {
        let env = argv(&["MARIADB_ROOT_PASSWORD", "MYSQL_DATABASE"]);
        let recipe = recipe(Kind::Mysql, &env);
        let (dump, restore) = recipe.dump.expect("a dump");
        assert_eq!(
            dump,
            "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" exec $(command -v mariadb-dump || command -v mysqldump) -uroot --all-databases --single-transaction --routines --events"
        );
        assert_eq!(
            restore,
            "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" exec $(command -v mariadb || command -v mysql) -uroot"
        );
        let redis = recipe_for_redis_with_password();
        assert_eq!(
            redis,
            shell("REDISCLI_AUTH=\"$REDIS_PASSWORD\" exec redis-cli SAVE".into())
        );
    }

    fn recipe_for_redis_with_password() -> Vec<String> {
        recipe(Kind::Redis, &argv(&["REDIS_PASSWORD"]))
            .before_backup
            .expect("a SAVE")
    }
}
