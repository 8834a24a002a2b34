use super::*;

#[test]
fn reads_the_originals_format() {
    let text = r#"
projects:
  - slug: commandcenter
    name: CommandCenter
    hub_url: http://localhost:8000
    mesh_namespace: hub.commandcenter
    tags: [python, fastapi]
    allow_fanout: [veria]
  - slug: Veria
    name: Veria
    hub_url: https://veria.example.com
"#;
    let regs = parse("p.yaml", text).unwrap().registrations;
    assert_eq!(regs.len(), 2);
    assert_eq!(regs[0].tags.len(), 2);
    assert_eq!(regs[1].slug.as_str(), "veria");
    assert_eq!(regs[1].mesh_namespace.as_str(), "hub.veria");
}

#[test]
fn empty_files_and_lists_are_empty_catalogs() {
    assert!(parse("p", "").unwrap().registrations.is_empty());
    assert!(parse("p", "# nothing\n").unwrap().registrations.is_empty());
    assert!(parse("p", "projects: []\n")
        .unwrap()
        .registrations
        .is_empty());
    assert!(parse("p", "projects:\n").unwrap().registrations.is_empty());
}

#[test]
fn errors_name_the_entry_and_field() {
    let text = r#"
projects:
  - {slug: a, name: A, hub_url: "http://a"}
  - {slug: b, name: B, hub_url: "http://b"}
  - {slug: c, name: C, hub_url: "ftp://c"}
"#;
    let err = parse("p.yaml", text).unwrap_err().to_string();
    assert!(err.contains("projects[2]"), "{err}");
    assert!(err.contains("\"c\""), "{err}");
    assert!(err.contains("hub_url"), "{err}");
}

#[test]
fn duplicates_unknown_keys_and_bad_yaml_are_refused() {
    let dup = "projects:\n  - {slug: a, name: A, hub_url: 'http://a'}\n  - {slug: A, name: A2, hub_url: 'http://a'}\n";
    let err = parse("p", dup).unwrap_err().to_string();
    assert!(
        err.contains("projects[1]") && err.contains("duplicate of projects[0]"),
        "{err}"
    );
    // A key we do not model is kept in the metadata (and logged), not lost.
    let typo = "projects:\n  - {slug: a, name: A, hub_url: 'http://a', tag: [x]}\n";
    let regs = parse("p", typo).unwrap().registrations;
    assert_eq!(regs[0].metadata.get("tag"), Some(&serde_json::json!(["x"])));
    assert!(parse("p", "projects: [").is_err());
    let err = parse("p", "project: []").unwrap_err().to_string();
    assert!(err.contains("projects: field required"), "{err}");
    // Beside `projects`, other top-level keys are warned about, as the original
    // ignored them.
    let extra = "version: 2\nprojects:\n  - {slug: a, name: A, hub_url: 'http://a'}\n";
    assert_eq!(parse("p", extra).unwrap().registrations.len(), 1);
    let missing = "projects:\n  - {slug: a, hub_url: 'http://a'}\n";
    let err = parse("p", missing).unwrap_err().to_string();
    assert!(err.contains("name: is required"), "{err}");
}

#[test]
fn only_a_regular_file_within_the_limit_is_read() {
    // A device that never ends, and a FIFO that never answers: refused at once.
    for special in ["/dev/zero", "/dev/null"] {
        let err = read(Path::new(special)).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{special}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let err = read(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
    // Through a symlink too.
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    assert!(read(&link).is_err());
    // Too large: refused before it is read.
    let big = dir.path().join("big.yaml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_CATALOG_BYTES + 1).unwrap();
    let err = read(&big).unwrap_err().to_string();
    assert!(err.contains("more than the"), "{err}");
    // A regular file within it: read.
    let ok = dir.path().join("ok.yaml");
    std::fs::write(&ok, "projects: []\n").unwrap();
    assert!(read(&ok).unwrap().is_some());
}

#[test]
fn the_namespace_must_be_hub_dot_slug_and_errors_use_the_originals_words() {
    let entry = |extra: &str| {
        format!("projects:\n  - {{slug: CommandCenter, name: C, hub_url: 'http://c'{extra}}}\n")
    };
    for ns in ["hub.different-project", "invalid.namespace"] {
        let err = parse("p", &entry(&format!(", mesh_namespace: {ns}")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "mesh_namespace must be 'hub.commandcenter', got '{ns}'"
            )),
            "{err}"
        );
    }
    let ok = parse("p", &entry(", mesh_namespace: hub.commandcenter")).unwrap();
    assert_eq!(
        ok.registrations[0].mesh_namespace.as_str(),
        "hub.commandcenter"
    );
    // Absent: hub.<slug>, the only value the original accepted.
    let ok = parse("p", &entry("")).unwrap();
    assert_eq!(
        ok.registrations[0].mesh_namespace.as_str(),
        "hub.commandcenter"
    );
    let bad_slug = "projects:\n  - {slug: 'bad slug!', name: B, hub_url: 'http://b'}\n";
    let err = parse("p", bad_slug).unwrap_err().to_string();
    assert!(
        err.contains("must contain only alphanumeric characters, dash, or underscore"),
        "{err}"
    );
    let fanout = &entry(", allow_fanout: ['ok', 'bad slug!']");
    let err = parse("p", fanout).unwrap_err().to_string();
    assert!(
        err.contains(
            "allow_fanout slug 'bad slug!' must contain only alphanumeric, dash, or underscore"
        ),
        "{err}"
    );
    assert!(parse("p", &entry(", allow_fanout: [veria, a_b-c]")).is_ok());
    let empty_tag = &entry(", tags: ['  ']");
    let err = parse("p", empty_tag).unwrap_err().to_string();
    assert!(err.contains("tags must be non-empty strings"), "{err}");
}

#[test]
fn the_originals_file_loads_and_wrong_types_name_the_field() {
    let original = "projects:\n  - slug: commandcenter\n    name: CommandCenter\n    hub_url: http://localhost:8000\n    mesh_namespace: hub.commandcenter\n    tags:\n      - python\n    allow_fanout: []\n";
    let regs = parse("p", original).unwrap().registrations;
    assert_eq!(regs.len(), 1);
    assert_eq!(
        regs[0].metadata.to_json_string(),
        r#"{"allow_fanout":[]}"#,
        "nothing of the original's entry is lost"
    );
    // Our own metadata mapping, merged with the keys we do not model.
    let ours = "projects:\n  - slug: a\n    name: A\n    hub_url: http://a\n    allow_fanout: [b]\n    metadata:\n      team: ops\n      replicas: 3\n      nested: {x: [1, true, ~]}\n";
    let regs = parse("p", ours).unwrap().registrations;
    assert_eq!(
        regs[0].metadata.to_json_string(),
        r#"{"allow_fanout":["b"],"nested":{"x":[1,true,null]},"replicas":3,"team":"ops"}"#
    );
    for (text, field) in [
        (
            "projects:\n  - {slug: a, name: A, hub_url: 'http://a', tags: python}\n",
            "tags",
        ),
        (
            "projects:\n  - {slug: a, name: [A], hub_url: 'http://a'}\n",
            "name",
        ),
        (
            "projects:\n  - {slug: a, name: A, hub_url: 'http://a', tags: [x, [y]]}\n",
            "tags[1]",
        ),
        (
            "projects:\n  - {slug: a, name: A, hub_url: 'http://a', metadata: [x]}\n",
            "metadata",
        ),
        (
            "projects:\n  - {slug: a, name: A, hub_url: 'http://a', metadata: {'a b': 1}}\n",
            "metadata.a b",
        ),
    ] {
        let err = parse("p.yaml", text).unwrap_err().to_string();
        assert!(
            err.contains(&format!("projects[0] (slug \"a\"): {field}:")),
            "{err}"
        );
    }
}

#[test]
fn a_missing_file_is_none() {
    let dir = tempfile::tempdir().unwrap();
    assert!(read(&dir.path().join("nope.yaml")).unwrap().is_none());
}
