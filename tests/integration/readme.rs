//! Every runbook snippet of README.md validates.
//!
//! The README's ```yaml blocks are pieces of one runbook, shown section by
//! section ("A runbook, section by section"): the first holds `version`,
//! `name` and `project` and is a runbook on its own; the next ones
//! (`services`, `thresholds`, `checks` + `logs`) have no `version` and only
//! make sense after it (the checks name the services). So a block with a
//! top-level `version:` starts a runbook and every block after it without one
//! is appended to it, and the runbook is validated after each block is added:
//! each block is checked with what the README shows before it.
//! Every block is validated: a sketch that does not validate has no place
//! in the README.

use crate::support::Workspace;

const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));

/// The text of every ```yaml fenced block, in README order.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line.trim_end() == "```yaml" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(current.is_none(), "README.md has an unclosed ```yaml block");
    blocks
}

fn starts_a_runbook(block: &str) -> bool {
    block.lines().any(|line| line.starts_with("version:"))
}

#[test]
fn every_runbook_snippet_of_the_readme_validates() {
    let blocks = yaml_blocks(README);
    let ws = Workspace::new();
    // The copy targets' credentials, as an operator's .env holds them:
    // `validate` looks them up (an unset one would fail the copy).
    ws.write(
        ".env",
        "S3_ACCESS_KEY_ID=readme-key-id\nS3_SECRET_ACCESS_KEY=readme-secret-access-key\n",
    );
    let mut runbook = String::new();
    let mut validated = 0;
    let mut failures = Vec::new();
    for (n, block) in blocks.iter().enumerate() {
        if starts_a_runbook(block) {
            runbook.clear();
        } else {
            assert!(
                !runbook.is_empty(),
                "README yaml block {} has no `version` and follows no runbook:\n{block}",
                n + 1
            );
        }
        runbook.push_str(block);
        let file = format!("readme-{}.yaml", n + 1);
        ws.write(&file, &runbook);
        let run = ws.opsbook(&["validate", "--runbook", &file]);
        if run.code != 0 || !run.stderr.is_empty() {
            failures.push(format!(
                "README yaml block {} (validated as {file}, exit {}):\n{block}{}",
                n + 1,
                run.code,
                run.stderr
            ));
        }
        validated += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // 5 when this test was written: the section-by-section blocks of the
    // reference runbook. Fewer means a README edit made the test skip some.
    assert!(
        validated >= 5,
        "only {validated} of {} README yaml blocks were validated",
        blocks.len()
    );
    assert_eq!(
        validated,
        blocks.len(),
        "every README yaml block is validated"
    );
}

#[test]
fn yaml_blocks_are_found_whole() {
    let markdown = "text\n```yaml\na: 1\n\nb: 2\n```\n```sh\nls\n```\n```yaml\nc: 3\n```\n";
    assert_eq!(yaml_blocks(markdown), ["a: 1\n\nb: 2\n", "c: 3\n"]);
}

/// The fleet file the README shows (its `cat > fleet.yaml <<'EOF'` block)
/// is a valid fleet, given the runbooks, TLS folder and context it names.
#[test]
fn the_readme_fleet_file_is_valid() {
    let start = README
        .find("cat > fleet.yaml <<'EOF'\n")
        .expect("the README's fleet file")
        + "cat > fleet.yaml <<'EOF'\n".len();
    let end = start + README[start..].find("\nEOF\n").expect("its end");
    let fleet = &README[start..end];
    let ws = Workspace::new();
    ws.write("fleet.yaml", format!("{fleet}\n"));
    for host in ["shop", "erp", "crm", "lab"] {
        ws.write(&format!("{host}/opsbook.yaml"), "version: 1\nname: x\n");
    }
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        ws.write(&format!("certs/crm/{file}"), "not read by `fleet list`\n");
    }
    let config = ws.path().join("docker-config");
    let made = std::process::Command::new("docker")
        .env("DOCKER_CONFIG", &config)
        .args([
            "context",
            "create",
            "lab",
            "--docker",
            "host=unix:///run/lab/docker.sock",
        ])
        .output()
        .expect("docker");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let listed = ws.opsbook_with(
        &["--fleet", "fleet.yaml", "fleet", "list"],
        &[("DOCKER_CONFIG", config.to_str().expect("utf-8"))],
    );
    listed.expect_code(0);
    assert!(
        listed.stdout.contains("4 hosts of 4 in fleet.yaml"),
        "{}",
        listed.stdout
    );
    assert!(
        listed
            .stdout
            .contains("unix:///run/lab/docker.sock (context lab)"),
        "{}",
        listed.stdout
    );
}

/// The README's `opsbook validate` example, run as written from the
/// repository root, prints exactly what the README shows.
#[test]
fn the_readme_validate_example_prints_what_the_readme_shows() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let command = "$ opsbook validate --runbook examples/broken.yaml\n";
    let at = readme.find(command).expect("the example in README.md") + command.len();
    let shown = &readme[at..at + readme[at..].find("```").expect("the block's end")];
    assert_eq!(shown.lines().count(), 5, "five problems: {shown}");
    let output = assert_cmd::Command::cargo_bin("opsbook")
        .expect("opsbook binary")
        .current_dir(root)
        .env_remove("OPSBOOK_RUNBOOK")
        .args(["validate", "--runbook", "examples/broken.yaml"])
        .output()
        .expect("run opsbook");
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&output.stderr), shown);
    assert!(output.stdout.is_empty());
}
