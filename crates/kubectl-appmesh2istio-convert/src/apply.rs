//! `--apply` and `--undo`: plan → confirm → apply → verify → undo record, with kubectl-style
//! result lines on stderr (`virtualservice.networking.istio.io/cart created`) and, with `-o`,
//! the plan and its results on stdout.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;
use appmesh2istio::cli::OutputFormat;
use appmesh2istio::cluster::Cluster;
use appmesh2istio::cluster::access::AccessAnswer;
use appmesh2istio::cluster::apply::{
    self, Action, Applied, ApplyOptions, ApplyResult, DOCUMENT_API_VERSION, DryRun, Plan, PlanItem,
};
use appmesh2istio::cluster::undo::{
    self, UndoAction, UndoItem, UndoJournal, UndoRecord, UndoResult,
};
use appmesh2istio::exit;
use appmesh2istio::istio::IstioObject;
use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};

use crate::{Cli, write_stdout};

fn options(cli: &Cli) -> ApplyOptions {
    ApplyOptions {
        field_manager: cli.field_manager.clone(),
        force_conflicts: cli.force_conflicts,
        dry_run: cli.dry_run.unwrap_or_default(),
        ..ApplyOptions::default()
    }
}

fn cluster_name(cluster: &Cluster) -> String {
    match &cluster.context {
        Some(c) => format!("{} (context {c})", cluster.server),
        None => cluster.server.clone(),
    }
}

fn table(color: bool, header: Vec<&str>) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !color {
        table.force_no_tty();
    }
    table.set_header(header);
    table
}

fn action_cell(name: &str, color: bool) -> Cell {
    let cell = Cell::new(name);
    if !color {
        return cell;
    }
    match name {
        "create" => cell.fg(Color::Green),
        "update" | "restore" => cell.fg(Color::Yellow),
        "conflict" | "delete" => cell.fg(Color::Red),
        _ => cell,
    }
}

/// The plan as a table, for stderr.
fn plan_table(plan: &Plan, color: bool) -> String {
    let mut t = table(
        color,
        vec!["ACTION", "KIND", "NAMESPACE", "NAME", "CHANGES"],
    );
    for item in &plan.items {
        let key = &item.target.key;
        t.add_row(vec![
            action_cell(item.action.name(), color),
            Cell::new(&key.kind),
            Cell::new(key.namespace.as_deref().unwrap_or("")),
            Cell::new(&key.name),
            Cell::new(item.action.details()),
        ]);
    }
    format!("{t}\n")
}

fn undo_table(items: &[UndoItem], color: bool) -> String {
    let mut t = table(
        color,
        vec!["ACTION", "KIND", "NAMESPACE", "NAME", "DETAILS"],
    );
    for item in items {
        t.add_row(vec![
            action_cell(item.action.name(), color),
            Cell::new(&item.key.kind),
            Cell::new(item.key.namespace.as_deref().unwrap_or("")),
            Cell::new(&item.key.name),
            Cell::new(item.action.details()),
        ]);
    }
    format!("{t}\n")
}

/// Print `document` on stdout in the `-o` format, if `-o` was given.
fn print_document(cli: &Cli, document: &Value) -> anyhow::Result<()> {
    let text = match cli.output {
        None => return Ok(()),
        Some(OutputFormat::Json) => {
            let mut text =
                serde_json::to_string_pretty(document).context("cannot serialise the plan")?;
            text.push('\n');
            text
        }
        Some(OutputFormat::Yaml) => {
            serde_saphyr::to_string(document).context("cannot serialise the plan")?
        }
    };
    write_stdout(&text)
}

fn describe_denied(denied: &[AccessAnswer]) -> String {
    denied
        .iter()
        .map(|a| {
            let reason = a
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            format!("  not allowed to {}{reason}", a.request)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--yes`, or a yes at the prompt when stdin and stderr are terminals; otherwise refuse.
fn confirm(cli: &Cli, question: &str) -> anyhow::Result<bool> {
    if cli.yes {
        return Ok(true);
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        anyhow::bail!(
            "refusing to change the cluster without confirmation: standard input or standard error is not a terminal; \
             rerun with --yes to apply the plan above (nothing was changed)"
        );
    }
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact_on(&dialoguer::console::Term::stderr())
        .context("cannot read the confirmation")
}

/// `convert --apply`: returns the exit code.
pub async fn run_apply(
    cli: &Cli,
    cluster: &Cluster,
    objects: &[IstioObject],
) -> anyhow::Result<i32> {
    let options = options(cli);
    let color = cli.color.enabled_for_stderr();
    let (targets, not_applied) = apply::targets(objects)?;
    for key in &not_applied {
        eprintln!(
            "note: {key} is not applied: it is input for `istioctl install -f`, not a cluster object; \
             write it with `convert --install` (without --apply, or with --output-dir) and run `istioctl install -f <file>`"
        );
    }
    if targets.is_empty() {
        eprintln!("nothing to apply: the conversion generated no objects");
        return Ok(exit::SUCCESS);
    }
    let plan = match apply::plan(cluster, targets, &options).await {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    eprint!("{}", plan_table(&plan, color));
    eprintln!("plan for {}: {}", cluster_name(cluster), plan.summary());
    let no_results = BTreeMap::new();

    let conflicts = plan.conflicts().count();
    if conflicts > 0 {
        eprintln!(
            "error: {conflicts} object(s) already exist and are not managed by appmesh2istio (no label \
             app.kubernetes.io/managed-by=appmesh2istio): refusing to change them; nothing was changed. \
             Rerun with --force-conflicts to take them over."
        );
        print_document(
            cli,
            &apply::plan_document(&plan, &options, &no_results, &not_applied, None),
        )?;
        return Ok(exit::CONFLICTS);
    }
    if options.dry_run == DryRun::Client || !plan.writes() {
        for item in &plan.items {
            let result = match item.action {
                Action::Create => "created",
                Action::Update { .. } => "configured",
                _ => "unchanged",
            };
            eprintln!(
                "{} {result}{}",
                item.target.key.kubectl_name(),
                options.dry_run.suffix()
            );
        }
        print_document(
            cli,
            &apply::plan_document(&plan, &options, &no_results, &not_applied, None),
        )?;
        return Ok(exit::SUCCESS);
    }
    let denied = apply::missing_rights(cluster, &plan).await;
    if !denied.is_empty() {
        eprintln!(
            "error: the current user lacks rights the plan needs; nothing was changed:\n{}",
            describe_denied(&denied)
        );
        return Ok(exit::FAILURE);
    }
    if options.dry_run == DryRun::None {
        let writes = plan.items.iter().filter(|i| i.action.writes()).count();
        let question = format!("Apply {writes} change(s) to {}?", cluster_name(cluster));
        match confirm(cli, &question) {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("aborted: nothing was changed");
                return Ok(exit::FAILURE);
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(exit::FAILURE);
            }
        }
    }

    // The undo record is written before each write (not on a server dry run: nothing is stored).
    let mut journal = if options.dry_run == DryRun::None {
        let journal = UndoJournal::create(
            cli.undo_file.as_deref(),
            UndoRecord::new(cluster, &options.field_manager),
        )?;
        eprintln!("undo file: {}", journal.path.display());
        Some(journal)
    } else {
        None
    };

    let mut results: BTreeMap<usize, String> = BTreeMap::new();
    let mut written: Vec<(&PlanItem, Applied)> = Vec::new();
    let mut failed_at = None;
    for (index, item) in plan.items.iter().enumerate() {
        let key = &item.target.key;
        if !item.action.writes() {
            eprintln!(
                "{} unchanged{}",
                key.kubectl_name(),
                options.dry_run.suffix()
            );
            results.insert(index, ApplyResult::Unchanged.as_str().to_owned());
            continue;
        }
        if let Some(j) = journal.as_mut() {
            j.record.before_write(item);
            j.save()?;
        }
        match apply::apply_item(cluster, &plan, item, &options).await {
            Ok(applied) => {
                if let (Some(j), Some(object)) = (journal.as_mut(), applied.object.as_ref()) {
                    j.record.after_write(key, object);
                    j.save()?;
                }
                let retried = if applied.retries > 0 && cli.kube.verbosity > 0 {
                    format!(" (after {} retries)", applied.retries)
                } else {
                    String::new()
                };
                eprintln!(
                    "{} {}{}{retried}",
                    key.kubectl_name(),
                    applied.result.as_str(),
                    options.dry_run.suffix()
                );
                results.insert(index, applied.result.as_str().to_owned());
                written.push((item, applied));
            }
            Err(failure) => {
                if let Some(j) = journal.as_mut() {
                    if failure.definitely_not_applied {
                        j.record.forget(key);
                    }
                    j.save()?;
                }
                eprintln!("error: {failure}");
                results.insert(
                    index,
                    if failure.definitely_not_applied {
                        "failed"
                    } else {
                        "unknown"
                    }
                    .to_owned(),
                );
                failed_at = Some((index, failure.definitely_not_applied));
                break;
            }
        }
    }

    let written_refs: Vec<(&PlanItem, &Applied)> = written.iter().map(|(i, a)| (*i, a)).collect();
    let problems = match apply::verify(cluster, &written_refs, &options).await {
        Ok(problems) => problems,
        Err(e) => {
            eprintln!("error: cannot verify: {e}");
            return Ok(exit::FAILURE);
        }
    };
    for p in &problems {
        eprintln!("verify: {p}");
    }

    let undo_path = match journal {
        Some(j) if j.record.is_empty() => {
            let path = j.path.clone();
            j.discard()?;
            eprintln!(
                "nothing was applied; removed the empty undo file {}",
                path.display()
            );
            None
        }
        Some(j) => Some(j.path.display().to_string()),
        None => None,
    };
    let mut code = exit::SUCCESS;
    if let Some((index, certain)) = failed_at {
        let applied: Vec<String> = written
            .iter()
            .map(|(i, _)| i.target.key.to_string())
            .collect();
        let pending: Vec<String> = plan.items[index..]
            .iter()
            .enumerate()
            .filter(|(n, i)| (certain || *n != 0) && i.action.writes())
            .map(|(_, i)| i.target.key.to_string())
            .collect();
        eprintln!(
            "stopped at the first error: {} of {} writes applied",
            written.len(),
            plan.items.iter().filter(|i| i.action.writes()).count()
        );
        if !applied.is_empty() {
            eprintln!("  applied: {}", applied.join(", "));
        }
        if !certain {
            eprintln!(
                "  may or may not have been applied: {}",
                plan.items[index].target.key
            );
        }
        if !pending.is_empty() {
            eprintln!("  not applied: {}", pending.join(", "));
        }
        code = exit::FAILURE;
    } else if options.dry_run == DryRun::None && problems.is_empty() {
        eprintln!("verified: {} object(s) read back as applied", written.len());
    } else if problems.is_empty() {
        eprintln!(
            "server dry run: {} write(s) admitted, nothing stored",
            written.len()
        );
    }
    if !problems.is_empty() {
        code = exit::FAILURE;
    }
    if let Some(path) = &undo_path {
        eprintln!("to revert: kubectl appmesh2istio convert --undo {path}");
    }
    print_document(
        cli,
        &apply::plan_document(
            &plan,
            &options,
            &results,
            &not_applied,
            undo_path.as_deref(),
        ),
    )?;
    Ok(code)
}

/// `convert --undo FILE`: returns the exit code.
pub async fn run_undo(cli: &Cli, file: &Path) -> anyhow::Result<i32> {
    let options = options(cli);
    let color = cli.color.enabled_for_stderr();
    let record = match UndoRecord::read(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    let cluster = match cli.kube.connect().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    if record.server != cluster.server {
        eprintln!(
            "warning: {} was written for the cluster at {}; this is {}",
            file.display(),
            record.server,
            cluster_name(&cluster)
        );
    }
    let items = match undo::plan_undo(&cluster, &record).await {
        Ok(items) => items,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    eprint!("{}", undo_table(&items, color));
    let count = |name: &str| items.iter().filter(|i| i.action.name() == name).count();
    eprintln!(
        "undo plan for {}: {} to delete, {} to restore, {} unchanged, {} already deleted, {} skipped",
        cluster_name(&cluster),
        count("delete"),
        count("restore"),
        count("unchanged"),
        count("absent"),
        count("skip")
    );
    let document = |results: &BTreeMap<usize, &str>| {
        json!({
            "apiVersion": DOCUMENT_API_VERSION,
            "kind": "UndoPlan",
            "undoFile": file.display().to_string(),
            "dryRun": options.dry_run,
            "items": items.iter().enumerate().map(|(i, item)| {
                let mut entry = json!({
                    "apiVersion": item.key.api_version, "kind": item.key.kind,
                    "namespace": item.key.namespace, "name": item.key.name,
                    "action": item.action.name(),
                });
                let details = item.action.details();
                if !details.is_empty() {
                    entry["details"] = json!(details);
                }
                if let Some(r) = results.get(&i) {
                    entry["result"] = json!(r);
                }
                entry
            }).collect::<Vec<_>>(),
        })
    };
    let writes = items.iter().filter(|i| i.action.writes()).count();
    if options.dry_run == DryRun::Client || writes == 0 {
        for item in &items {
            let result = match item.action {
                UndoAction::Delete { .. } => "deleted",
                UndoAction::Restore { .. } => "restored",
                UndoAction::Unchanged | UndoAction::Absent => "unchanged",
                UndoAction::Skip { .. } => "skipped",
            };
            eprintln!(
                "{} {result}{}",
                item.key.kubectl_name(),
                options.dry_run.suffix()
            );
        }
        if writes == 0 {
            eprintln!("nothing to undo");
        }
        print_document(cli, &document(&BTreeMap::new()))?;
        return Ok(exit::SUCCESS);
    }
    let denied = undo::missing_undo_rights(&cluster, &items).await;
    if !denied.is_empty() {
        eprintln!(
            "error: the current user lacks rights undo needs; nothing was changed:\n{}",
            describe_denied(&denied)
        );
        return Ok(exit::FAILURE);
    }
    if options.dry_run == DryRun::None {
        match confirm(
            cli,
            &format!("Undo {writes} change(s) on {}?", cluster_name(&cluster)),
        ) {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("aborted: nothing was changed");
                return Ok(exit::FAILURE);
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(exit::FAILURE);
            }
        }
    }
    let mut results: BTreeMap<usize, &str> = BTreeMap::new();
    let mut done = Vec::new();
    let mut code = exit::SUCCESS;
    for (index, item) in items.iter().enumerate() {
        match undo::undo_item(&cluster, &record, item, &options, false).await {
            Ok((result, answer)) => {
                eprintln!(
                    "{} {}{}",
                    item.key.kubectl_name(),
                    result.as_str(),
                    options.dry_run.suffix()
                );
                results.insert(index, result.as_str());
                if matches!(result, UndoResult::Deleted | UndoResult::Restored) {
                    done.push((item, result, answer));
                }
            }
            Err(failure) => {
                eprintln!("error: {failure}");
                results.insert(index, "failed");
                let rest: Vec<String> = items[index + 1..]
                    .iter()
                    .filter(|i| i.action.writes())
                    .map(|i| i.key.to_string())
                    .collect();
                if !rest.is_empty() {
                    eprintln!(
                        "stopped at the first error; not undone: {}",
                        rest.join(", ")
                    );
                }
                code = exit::FAILURE;
                break;
            }
        }
    }
    match undo::verify_undo(&cluster, &record, &done, &options).await {
        Ok(problems) if problems.is_empty() => {
            if code == exit::SUCCESS && options.dry_run == DryRun::None {
                eprintln!("verified: {} object(s) deleted or restored", done.len());
            }
        }
        Ok(problems) => {
            for p in problems {
                eprintln!("verify: {p}");
            }
            code = exit::FAILURE;
        }
        Err(e) => {
            eprintln!("error: cannot verify: {e}");
            code = exit::FAILURE;
        }
    }
    print_document(cli, &document(&results))?;
    if cli.kube.verbosity > 0 {
        eprintln!(
            "{} API requests ({} retries)",
            cluster.stats.requests(),
            cluster.stats.retries()
        );
    }
    Ok(code)
}
