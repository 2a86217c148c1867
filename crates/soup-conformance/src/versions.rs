//! The version axis as data: `xtask/versions.toml` parsed, `--versions` resolved, and the
//! cells of older releases expanded.
//!
//! A release is named `<peer>@<version>` (`go@v1.6.3`) and takes part in cells under that
//! name, crossed with the newest release of every other peer: a cell names at most one
//! release, so its id says which one (`rust-go@v1.6.3-auto-ec-p521-unix`).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::outputs::{Answer, RecordedAnswers};
use crate::verdict::Verdict;

/// `xtask/versions.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionsSpec {
    /// The newest release's label of each versioned peer (what `matrix.toml` runs).
    pub newest: BTreeMap<String, String>,
    /// Older releases, oldest first per peer.
    #[serde(rename = "release", default)]
    pub releases: Vec<Release>,
}

/// One release of a peer's libraries.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The peer of `matrix.toml` it is a release of (`go`, `python`).
    pub peer: String,
    /// Its label (`v1.6.3`, `grpcio-1.56`).
    pub version: String,
    /// Go: the go.mod it builds with (workspace-relative).
    pub modfile: Option<String>,
    /// Go: build tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Python: the complete pin list of its venv (workspace-relative).
    pub requirements: Option<String>,
    /// `client` and/or `server`; both when absent.
    pub roles: Option<Vec<String>>,
    /// Why the release has only the roles it has.
    pub roles_note: Option<String>,
    /// Python: conflicts `pip check` is expected to report (a release installed outside
    /// its libraries' declared constraints on purpose); every line it prints must contain
    /// one of them.
    #[serde(default)]
    pub pip_check_conflicts: Vec<String>,
}

impl Release {
    /// `go@v1.6.3`.
    pub fn name(&self) -> String {
        format!("{}@{}", self.peer, self.version)
    }

    /// Whether it takes the role (`client`, `server`).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles
            .as_ref()
            .is_none_or(|r| r.iter().any(|x| x == role))
    }

    /// Its directory under the workspace: `target/peers/go@v1.6.3`.
    pub fn dir(&self) -> String {
        format!("target/peers/{}", self.name())
    }

    /// The newest peer's argv re-rooted in this release's directory: the first word
    /// `target/peers/X` becomes `target/peers/<peer>@<version>/X`.
    pub fn argv(&self, newest: &[String]) -> Result<Vec<String>> {
        let mut argv = newest.to_vec();
        let first = argv
            .first_mut()
            .with_context(|| format!("{}: the newest peer's command is empty", self.name()))?;
        let rest = first.strip_prefix("target/peers/").with_context(|| {
            format!(
                "{}: the newest {} peer runs `{first}`, which is not under target/peers/, so \
                 there is no release directory to run instead",
                self.name(),
                self.peer
            )
        })?;
        *first = format!("{}/{rest}", self.dir());
        Ok(argv)
    }
}

/// Splits `go@v1.6.3` into `("go", Some("v1.6.3"))`; a plain peer name has no version.
pub fn split(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((peer, version)) => (peer, Some(version)),
        None => (name, None),
    }
}

impl VersionsSpec {
    /// Parses and checks the declaration against the matrix's peers.
    pub fn parse(text: &str, peers: &[&str]) -> Result<Self> {
        let spec: Self = toml::from_str(text).context("parsing xtask/versions.toml")?;
        let mut seen = std::collections::BTreeSet::new();
        for r in &spec.releases {
            if !peers.contains(&r.peer.as_str()) {
                bail!(
                    "xtask/versions.toml: release {} is of peer `{}`, which matrix.toml does not declare (peers: {})",
                    r.name(),
                    r.peer,
                    peers.join(", ")
                );
            }
            if !spec.newest.contains_key(&r.peer) {
                bail!(
                    "xtask/versions.toml: release {} has no [newest] {} label",
                    r.name(),
                    r.peer
                );
            }
            if spec.newest[&r.peer] == r.version {
                bail!(
                    "xtask/versions.toml: release {} is the newest (matrix.toml runs it); list only older releases",
                    r.name()
                );
            }
            if !seen.insert(r.name()) {
                bail!(
                    "xtask/versions.toml: release {} is declared twice",
                    r.name()
                );
            }
            if r.version.is_empty() || r.version.contains(['/', ' ', '@']) {
                bail!(
                    "xtask/versions.toml: release label {:?} of {} must be non-empty, without '/', ' ' or '@'",
                    r.version,
                    r.peer
                );
            }
            match (r.modfile.is_some(), r.requirements.is_some()) {
                (true, false) | (false, true) => {}
                _ => bail!(
                    "xtask/versions.toml: release {} needs exactly one of `modfile` (Go) or `requirements` (Python)",
                    r.name()
                ),
            }
            if r.roles.is_some() != r.roles_note.is_some() {
                bail!(
                    "xtask/versions.toml: release {}: `roles` and `roles_note` (why it has only those roles) go together",
                    r.name()
                );
            }
            for role in r.roles.iter().flatten() {
                if role != "client" && role != "server" {
                    bail!(
                        "xtask/versions.toml: release {}: role `{role}` is not client or server",
                        r.name()
                    );
                }
            }
        }
        Ok(spec)
    }

    /// The releases `--versions` selects: `newest` (none), `all`, or a comma list of
    /// release names (`go@v1.6.3`), versions of one peer's releases (`go@v1.6` picks every
    /// v1.6 release) or peers (`go`: all of its releases).
    pub fn select(&self, wanted: &[String]) -> Result<Vec<&Release>> {
        if wanted.is_empty() || wanted == ["newest"] {
            return Ok(Vec::new());
        }
        if wanted == ["all"] {
            return Ok(self.releases.iter().collect());
        }
        let mut out: Vec<&Release> = Vec::new();
        for w in wanted {
            if w == "all" || w == "newest" {
                bail!("--versions {w} cannot be combined with other values");
            }
            let found: Vec<&Release> = self.releases.iter().filter(|r| r.matches(w)).collect();
            if found.is_empty() {
                let (peer, version) = split(w);
                if version.is_some_and(|v| self.newest.get(peer).is_some_and(|n| n == v)) {
                    bail!(
                        "--versions {w}: that is the newest release, which every run includes; \
                         name an older one"
                    );
                }
                let known: Vec<String> = self.releases.iter().map(Release::name).collect();
                bail!(
                    "--versions {w}: no such release in xtask/versions.toml (releases: {}; or `all`, `newest`)",
                    known.join(", ")
                );
            }
            for r in found {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        // Declaration order, whatever order they were asked in.
        out.sort_by_key(|r| self.releases.iter().position(|x| x == *r));
        Ok(out)
    }

    /// The release named `go@v1.6.3`, if declared.
    pub fn release(&self, name: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.name() == name)
    }

    /// Every label of `peer`, oldest first, the newest last.
    pub fn labels(&self, peer: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .releases
            .iter()
            .filter(|r| r.peer == peer)
            .map(|r| r.version.clone())
            .collect();
        if let Some(n) = self.newest.get(peer) {
            out.push(n.clone());
        }
        out
    }

    /// The label a user's version query (`--client-version 1.56`) means for `peer`: an exact
    /// label, or the one whose version starts with it at a component boundary (`1.56` is
    /// `grpcio-1.56`, `v1.6` is ambiguous between `v1.6.0` and `v1.6.3`).
    pub fn resolve_label(&self, peer: &str, query: &str) -> Result<String> {
        let labels = self.labels(peer);
        if labels.is_empty() {
            bail!(
                "peer {peer} has no releases on the version axis (versioned peers: {})",
                self.newest.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(l) = labels.iter().find(|l| *l == query) {
            return Ok(l.clone());
        }
        let found: Vec<&String> = labels.iter().filter(|l| label_matches(l, query)).collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => bail!(
                "{peer} {query}: not a release the matrix ran (releases of {peer}: {})",
                labels.join(", ")
            ),
            many => bail!(
                "{peer} {query}: ambiguous, it matches {}; give one of them",
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl Release {
    fn matches(&self, wanted: &str) -> bool {
        let (peer, version) = split(wanted);
        peer == self.peer && version.is_none_or(|v| label_matches(&self.version, v))
    }
}

/// `grpcio-1.56` matches `1.56`, `grpcio-1.56`; `v1.6.3` matches `v1.6`, `1.6.3`.
fn label_matches(label: &str, query: &str) -> bool {
    let bare = |s: &str| -> String {
        let s = s.rsplit('-').next().unwrap_or(s);
        s.trim_start_matches('v').to_string()
    };
    if label == query {
        return true;
    }
    // A query with a prefix (`pyvider-0.4`) must name the same library.
    if let Some((qlib, _)) = query.rsplit_once('-')
        && !label.starts_with(&format!("{qlib}-"))
    {
        return false;
    }
    let (l, q) = (bare(label), bare(query));
    l == q || l.starts_with(&format!("{q}."))
}

/// The docs' per-version view of a `--versions all` run: for every pairing with a
/// versioned peer, each release's results, the releases where every applicable cell
/// passes, and, release by release, the cells that differ from the newest with their cause.
pub fn markdown(answers: &RecordedAnswers, spec: &VersionsSpec) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "\n## Across releases\n");
    let _ = writeln!(
        out,
        "Generated by `{}` on {}: every older release of xtask/versions.toml crossed with the \
         newest release of every other peer, {} cells. `libraries` is what the peer reported it \
         was built with. `@R` marks the side that varies. A release *works* for a pairing when at \
         least one of its cells passes; *as the newest* lists the releases whose every cell has \
         the newest release's verdict; *differs from the newest* lists, release by release, \
         the cells whose verdict is not the newest's, with the cause the matrix classified.\n",
        answers.command,
        answers.generated_at,
        answers.cells.len()
    );
    for (peer, newest) in &spec.newest {
        let labels = spec.labels(peer);
        let name_of = |label: &str| {
            if label == newest {
                peer.clone()
            } else {
                format!("{peer}@{label}")
            }
        };
        let _ = writeln!(out, "### {peer}: {}\n", labels.join(", "));
        let _ = writeln!(out, "| release | libraries (reported) |\n| --- | --- |");
        for label in &labels {
            let name = name_of(label);
            let imp = answers
                .peers
                .get(&name)
                .or_else(|| answers.peers.get(&format!("{name} server")))
                .map_or("(not run)", |c| c.implementation.as_str());
            let _ = writeln!(out, "| {label} | {imp} |");
        }
        // Pairings: the versioned peer as server under each client, then as client.
        let mut pairings: Vec<(bool, String)> = Vec::new();
        for a in &answers.cells {
            for (as_server, me, other) in
                [(true, &a.server, &a.client), (false, &a.client, &a.server)]
            {
                if split(me).0 == peer && !other.contains('@') {
                    let key = (as_server, other.clone());
                    if !pairings.contains(&key) {
                        pairings.push(key);
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "\n| pairing | works in | as the newest in | ✓ per release (of cells run) | differs from the newest |\n| --- | --- | --- | --- | --- |"
        );
        for (as_server, other) in &pairings {
            let row = |name: &str| -> Vec<&Answer> {
                answers
                    .cells
                    .iter()
                    .filter(|a| {
                        if *as_server {
                            a.server == name && &a.client == other
                        } else {
                            a.client == name && &a.server == other
                        }
                    })
                    .collect()
            };
            let label_txt = if *as_server {
                format!("{other}→{peer}@R")
            } else {
                format!("{peer}@R→{other}")
            };
            let newest_cells = row(&name_of(newest));
            let mut works = Vec::new();
            let mut same = Vec::new();
            let mut counts = Vec::new();
            let mut diffs = Vec::new();
            for label in &labels {
                let cells = row(&name_of(label));
                if cells.is_empty() {
                    counts.push(format!("{label}: –"));
                    continue;
                }
                let applicable = cells
                    .iter()
                    .filter(|a| a.verdict != Verdict::NotApplicable)
                    .count();
                let pass = cells.iter().filter(|a| a.verdict == Verdict::Pass).count();
                if pass > 0 {
                    works.push(label.clone());
                }
                counts.push(format!("{label}: {pass}/{applicable}"));
                if label == newest {
                    same.push(label.clone());
                    continue;
                }
                let as_newest = cells.len() == newest_cells.len()
                    && cells.iter().all(|a| {
                        newest_cells
                            .iter()
                            .any(|n| n.requested == a.requested && n.verdict == a.verdict)
                    });
                if as_newest {
                    same.push(label.clone());
                }
                let mut by_cause: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for a in &cells {
                    let same = newest_cells.iter().find(|n| n.requested == a.requested);
                    if same.is_some_and(|n| n.verdict == a.verdict) {
                        continue;
                    }
                    let was = same.map_or("absent", |n| verdict_word(n.verdict));
                    let why = a
                        .cause
                        .clone()
                        .or_else(|| a.na_reason.clone())
                        .unwrap_or_default();
                    by_cause
                        .entry(format!(
                            "{} (newest: {was}){}",
                            verdict_word(a.verdict),
                            if why.is_empty() {
                                String::new()
                            } else {
                                format!(": {why}")
                            }
                        ))
                        .or_default()
                        .push(a.requested.label());
                }
                for (what, cells) in by_cause {
                    let shown = if cells.len() <= 3 {
                        format!(" ({})", cells.join(", "))
                    } else {
                        format!(" ({}, … {} more)", cells[..2].join(", "), cells.len() - 2)
                    };
                    diffs.push(format!("**{label}**, {} cells {what}{shown}", cells.len()));
                }
            }
            let span = |list: &[String]| match list {
                [] => "none".to_string(),
                [one] => one.clone(),
                many if many.len() == labels.len() => {
                    format!("all ({} – {})", many[0], many[many.len() - 1])
                }
                many => many.join(", "),
            };
            let (works, same) = (span(&works), span(&same));
            let diffs = if diffs.is_empty() {
                "—".to_string()
            } else {
                diffs.join("<br>")
            };
            let _ = writeln!(
                out,
                "| {label_txt} | {works} | {same} | {} | {} |",
                counts.join(", "),
                diffs.replace('|', "\\|")
            );
        }
        let _ = writeln!(out);
    }
    out
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Timeout => "timeout",
        Verdict::NotApplicable => "n/a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> VersionsSpec {
        VersionsSpec::parse(
            include_str!("../../../xtask/versions.toml"),
            &["rust", "go", "python", "python-rs"],
        )
        .unwrap()
    }

    #[test]
    fn the_declaration_covers_go_plugin_and_pyvider_release_lines() {
        let s = spec();
        let go = s.labels("go");
        for v in ["v1.4.", "v1.6.", "v1.7.0", "v1.8.0"] {
            assert!(go.iter().any(|l| l.starts_with(v)), "{v} in {go:?}");
        }
        assert_eq!(go.last().map(String::as_str), Some("v1.8.0"));
        let py = s.labels("python");
        assert!(py.iter().any(|l| l.starts_with("pyvider-0.4")), "{py:?}");
        assert!(py.iter().any(|l| l.starts_with("grpcio-1.5")), "{py:?}");
    }

    #[test]
    fn every_release_file_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for r in &spec().releases {
            for f in r.modfile.iter().chain(&r.requirements) {
                assert!(root.join(f).is_file(), "{}: {f} is missing", r.name());
            }
        }
    }

    #[test]
    fn select_takes_names_prefixes_and_peers_in_declaration_order() {
        let s = spec();
        assert!(s.select(&[]).unwrap().is_empty());
        assert!(s.select(&["newest".into()]).unwrap().is_empty());
        assert_eq!(s.select(&["all".into()]).unwrap().len(), s.releases.len());
        let names = |w: &[&str]| -> Vec<String> {
            let w: Vec<String> = w.iter().map(|s| s.to_string()).collect();
            s.select(&w).unwrap().iter().map(|r| r.name()).collect()
        };
        assert_eq!(names(&["go@v1.6"]), ["go@v1.6.0", "go@v1.6.3"]);
        assert_eq!(
            names(&["go@v1.7.0", "go@v1.4.8"]),
            ["go@v1.4.8", "go@v1.7.0"]
        );
        assert!(names(&["go"]).len() >= 4);
    }

    #[test]
    fn select_names_the_problem() {
        let s = spec();
        let err = s.select(&["go@v1.5.0".into()]).unwrap_err().to_string();
        assert!(
            err.contains("--versions go@v1.5.0: no such release") && err.contains("go@v1.4.8"),
            "{err}"
        );
        let err = s.select(&["go@v1.8.0".into()]).unwrap_err().to_string();
        assert!(err.contains("newest release"), "{err}");
        let err = s
            .select(&["all".into(), "go".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be combined"), "{err}");
    }

    #[test]
    fn argv_is_the_newest_command_re_rooted() {
        let s = spec();
        let r = s.releases.iter().find(|r| r.name() == "go@v1.6.3").unwrap();
        assert_eq!(
            r.argv(&["target/peers/bin/soup-go".into()]).unwrap(),
            ["target/peers/go@v1.6.3/bin/soup-go"]
        );
        let err = r
            .argv(&["target/release/soup".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not under target/peers/"), "{err}");
    }

    #[test]
    fn version_queries_resolve_at_component_boundaries() {
        let s = spec();
        assert_eq!(s.resolve_label("go", "v1.4.8").unwrap(), "v1.4.8");
        assert_eq!(s.resolve_label("go", "1.7").unwrap(), "v1.7.0");
        assert_eq!(s.resolve_label("go", "v1.8.0").unwrap(), "v1.8.0");
        assert!(
            s.resolve_label("go", "v1.6")
                .unwrap_err()
                .to_string()
                .contains("ambiguous")
        );
        assert!(
            s.resolve_label("go", "v1.60")
                .unwrap_err()
                .to_string()
                .contains("not a release")
        );
        assert!(
            s.resolve_label("rust", "1")
                .unwrap_err()
                .to_string()
                .contains("no releases")
        );
        assert_eq!(s.resolve_label("python", "1.56").unwrap(), "grpcio-1.56");
        assert_eq!(
            s.resolve_label("python", "pyvider-0.4.2").unwrap(),
            "pyvider-0.4.2"
        );
        assert_eq!(s.resolve_label("python", "0.5.0").unwrap(), "pyvider-0.5.0");
        assert!(
            s.resolve_label("python", "pyvider-0.4")
                .unwrap_err()
                .to_string()
                .contains("ambiguous")
        );
        assert!(
            s.resolve_label("python", "grpcio-0.4.0")
                .unwrap_err()
                .to_string()
                .contains("not a release")
        );
    }

    #[test]
    fn bad_declarations_are_refused_with_the_reason() {
        let bad = |text: &str| {
            VersionsSpec::parse(text, &["go", "python"])
                .unwrap_err()
                .to_string()
        };
        assert!(
            bad("[newest]\ngo='v1.8.0'\n[[release]]\npeer='ruby'\nversion='1'\nmodfile='x'\n")
                .contains("does not declare")
        );
        assert!(
            bad("[newest]\ngo='v1.8.0'\n[[release]]\npeer='go'\nversion='v1.8.0'\nmodfile='x'\n")
                .contains("is the newest")
        );
        assert!(
            bad("[newest]\ngo='v1.8.0'\n[[release]]\npeer='go'\nversion='v1'\n")
                .contains("exactly one of")
        );
        assert!(bad("[newest]\ngo='v1.8.0'\n[[release]]\npeer='go'\nversion='v1'\nmodfile='x'\nroles=['host']\nroles_note='n'\n")
            .contains("role `host`"));
    }

    fn answer(
        client: &str,
        server: &str,
        key: &str,
        verdict: Verdict,
        cause: Option<&str>,
    ) -> Answer {
        Answer {
            client: client.into(),
            server: server.into(),
            requested: crate::outputs::Requested {
                tls: "auto".into(),
                key: Some(key.into()),
                transport: "unix".into(),
            },
            verdict,
            cause: cause.map(str::to_string),
            na_reason: None,
            first_error: None,
            command: Vec::new(),
        }
    }

    #[test]
    fn the_view_gives_the_releases_that_work_and_the_cause_where_one_differs() {
        let spec = VersionsSpec::parse(
            "[newest]\ngo='v1.8.0'\n[[release]]\npeer='go'\nversion='v1.4.8'\nmodfile='m'\n\
             [[release]]\npeer='go'\nversion='v1.6.3'\nmodfile='m'\n",
            &["rust", "go"],
        )
        .unwrap();
        let pass = Verdict::Pass;
        let cells = vec![
            answer("rust", "go", "ec-p256", pass, None),
            answer("rust", "go", "ec-p521", pass, None),
            answer(
                "rust",
                "go@v1.4.8",
                "ec-p256",
                Verdict::Fail,
                Some("tls: bad certificate"),
            ),
            answer("rust", "go@v1.4.8", "ec-p521", pass, None),
            answer("rust", "go@v1.6.3", "ec-p256", pass, None),
            answer("rust", "go@v1.6.3", "ec-p521", pass, None),
            answer("go@v1.6.3", "rust", "ec-p256", pass, None),
        ];
        let answers = RecordedAnswers {
            schema: crate::outputs::ANSWERS_SCHEMA.into(),
            command: "cargo xtask matrix --versions all".into(),
            generated_at: "2026-12-02T00:00:00Z".into(),
            peers: BTreeMap::new(),
            cells,
        };
        let md = markdown(&answers, &spec);
        assert!(md.contains("### go: v1.4.8, v1.6.3, v1.8.0"), "{md}");
        let row = md
            .lines()
            .find(|l| l.starts_with("| rust→go@R |"))
            .expect(&md);
        assert!(
            row.contains("| all (v1.4.8 – v1.8.0) | v1.6.3, v1.8.0 |"),
            "works in, as the newest in: {row}"
        );
        assert!(
            row.contains("v1.4.8: 1/2, v1.6.3: 2/2, v1.8.0: 2/2"),
            "{row}"
        );
        assert!(
            row.contains(
                "**v1.4.8**, 1 cells fail (newest: pass): tls: bad certificate (auto/ec-p256 unix)"
            ),
            "{row}"
        );
        let row = md
            .lines()
            .find(|l| l.starts_with("| go@R→rust |"))
            .expect(&md);
        assert!(
            row.contains("v1.4.8: –"),
            "a release without cells shows none: {row}"
        );
        assert!(row.contains("absent"), "the newest ran no such cell: {row}");
    }
}
