//! A `rotate` step: a new secret in an env file. Its size is bounded (a
//! runbook asking for too few or too many bytes is refused before any run);
//! with `apply`, against a real PostgreSQL, the new password goes into the
//! env file and, through `psql` on standard input, into the database; the
//! application restarted on it reconnects and the old password is refused.
//! When the apply or the verify checks fail, the old value is put back in
//! the file and in the database.

use std::time::Duration;

use crate::support::exact::{Filters, assert_run};
use crate::support::{Project, REAL_IMAGE, Workspace, eventually};

const APPLY: &str = r#"IFS= read -r new; printf "ALTER ROLE app PASSWORD '%s';\n" "$new" | psql -q -v ON_ERROR_STOP=1 -U postgres"#;
/// A login as `app` with the password the env file holds (or the one given).
const LOGIN: &str = r#"PGPASSWORD="${PW:-$(sed -n 's/^DB_PASSWORD=//p' /config/.env)}" psql -h postgres -U app -d postgres -tAc 'select 1'"#;

fn deployment(ws: &Workspace) -> Project {
    let project = Project::new("rotate-apply");
    project
        .service("postgres")
        .runs(REAL_IMAGE, &["pg-serve"])
        .env("POSTGRES_HOST_AUTH=scram-sha-256")
        .mount(&project.volume("pgdata"), "/var/lib/postgresql/data")
        .healthcheck("pg_isready -q -h 127.0.0.1")
        .networked()
        .start();
    project.wait_for_health("postgres", "healthy", Duration::from_secs(60));
    assert!(project.exec(
        "postgres",
        "psql -q -U postgres -c \"CREATE ROLE app LOGIN PASSWORD 'old-password'\""
    ));
    ws.write(".env", "DB_PASSWORD=old-password\nOTHER=kept\n");
    // The application reads its password from the env file at each start.
    project
        .service("app")
        .runs(
            REAL_IMAGE,
            &[
                "sh",
                "-c",
                &format!("while :; do {LOGIN} > /tmp/status 2>&1; sleep 0.3; done"),
            ],
        )
        .mount(&ws.path().display().to_string(), "/config")
        .healthcheck("grep -qx 1 /tmp/status")
        .networked()
        .start();
    project.wait_for_health("app", "healthy", Duration::from_secs(60));
    project
}

fn runbook(project: &Project, verify: &str, apply: &str) -> String {
    format!(
        "version: 1\nproject: {}\nservices:\n  postgres: {{}}\n  app: {{ depends_on: [postgres] }}\nshutdown: {{ grace: 2s }}\n\
         checks:\n  app-db:\n    exec: {{ service: app, command: [sh, -c, {login:?}], stdout_contains: \"1\" }}\n\
         \x20 legacy:\n    exec: {{ service: app, command: [sh, -c, {legacy:?}], stdout_contains: \"1\" }}\n\
         startup:\n  verify: [{verify}]\n\
         procedures:\n  rotate-db:\n    steps:\n      - rotate: {{ file: .env, key: DB_PASSWORD, bytes: 24, encoding: hex, apply: {{ service: postgres, command: [sh, -c, {apply:?}] }}, restart: [app] }}\n",
        project.name,
        login = LOGIN,
        legacy = format!("PW=old-password {LOGIN}"),
    )
}

#[test]
fn a_rotated_password_is_applied_in_the_database_and_put_back_when_what_reads_it_fails() {
    let ws = Workspace::new();
    let project = deployment(&ws);
    let login_with =
        |password: &str| project.exec("app", &format!("PW={password} {LOGIN} | grep -qx 1"));

    // A verify check still on the old password fails: everything goes back.
    ws.write("opsbook.yaml", runbook(&project, "app-db, legacy", APPLY));
    let run = ws.opsbook(&["run", "rotate-db", "--yes", "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let message = run.json()["results"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(
            "put back: the old value is in postgres again; .env is as it was; restarted on it: ok"
        ),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join(".env")).unwrap(),
        "DB_PASSWORD=old-password\nOTHER=kept\n"
    );
    assert!(login_with("old-password"), "the old password works again");
    eventually(
        "app healthy on the old password",
        Duration::from_secs(30),
        || project.exec("app", "grep -qx 1 /tmp/status"),
    );

    // An apply that fails changes nothing.
    ws.write(
        "opsbook.yaml",
        runbook(&project, "app-db", "cat > /dev/null; exit 3"),
    );
    let run = ws.opsbook(&["run", "rotate-db", "--yes", "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let message = run.json()["results"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.ends_with("applying it in postgres failed: `sh -c cat > /dev/null; exit 3` exited 3; the file is as it was"),
        "{message}"
    );
    assert!(
        std::fs::read_to_string(ws.path().join(".env"))
            .unwrap()
            .starts_with("DB_PASSWORD=old-password\n")
    );

    // The rotation that works: new value in the file and the database,
    // the app restarted on it, the old password refused, the value never shown.
    ws.write("opsbook.yaml", runbook(&project, "app-db", APPLY));
    let run = ws.opsbook(&["run", "rotate-db", "--yes", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let env = std::fs::read_to_string(ws.path().join(".env")).unwrap();
    let new = env
        .lines()
        .next()
        .unwrap()
        .strip_prefix("DB_PASSWORD=")
        .unwrap()
        .to_string();
    assert_eq!(new.len(), 48, "{env}");
    assert!(env.ends_with("OTHER=kept\n"));
    assert!(
        !run.stdout.contains(&new) && !run.stderr.contains(&new),
        "the value leaked"
    );
    assert!(login_with(&new), "the new password works");
    assert!(!login_with("old-password"), "the old password is refused");
    // Its loop rewrites the status file: read it until one pass has finished.
    eventually("the app reconnected", Duration::from_secs(10), || {
        project.exec("app", "grep -qx 1 /tmp/status")
    });
}

#[test]
fn a_rotated_secret_of_few_bytes_or_billions_is_refused() {
    let ws = Workspace::new();
    let env = ws.write(".env", "JWT_SECRET=old\n");
    for bytes in [0, 15] {
        ws.write(
            "opsbook.yaml",
            format!(
                "version: 1\nname: shop\nprocedures:\n  rotate-jwt:\n    steps:\n      - rotate: {{ file: .env, key: JWT_SECRET, bytes: {bytes} }}\n"
            ),
        );
        let run = ws.opsbook(&["--yes", "run", "rotate-jwt"]);
        run.expect_code(3);
        assert!(
            run.stderr.contains("opsbook.yaml:6:")
                && run
                    .stderr
                    .contains("procedures.rotate-jwt.steps[0].rotate.bytes: ")
                && run.stderr.contains("at least 16"),
            "{}",
            run.stderr
        );
        assert_eq!(std::fs::read_to_string(&env).unwrap(), "JWT_SECRET=old\n");
    }
    // Four billion bytes would be gigabytes of memory: refused too.
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nprocedures:\n  rotate-jwt:\n    steps:\n      - rotate: { file: .env, key: JWT_SECRET, bytes: 4000000000 }\n",
    );
    let run = ws.opsbook(&["--yes", "run", "rotate-jwt"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("opsbook.yaml:6:") && run.stderr.contains("at most 4096"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&env).unwrap(), "JWT_SECRET=old\n");
}

#[test]
fn a_run_with_a_rotate_of_too_few_bytes_is_refused_before_any_step() {
    let ws = Workspace::new();
    let env = ws.write(".env", "JWT_SECRET=old\n");
    ws.write(
        "opsbook.yaml",
        "version: 1\nname: shop\nprocedures:\n  rotate-jwt:\n    steps:\n      - rotate: { file: .env, key: JWT_SECRET, bytes: 15 }\n",
    );
    assert_run(
        &ws.opsbook(&["--yes", "run", "rotate-jwt", "--state-dir", "state"]),
        &Filters::new(&ws),
        3,
        "",
        "error: opsbook.yaml:6:55: procedures.rotate-jwt.steps[0].rotate.bytes: 15 random bytes are too few \
         for a rotated value (use at least 16, or leave `bytes` out for 32)\n",
    );
    assert_eq!(std::fs::read_to_string(&env).unwrap(), "JWT_SECRET=old\n");
}
