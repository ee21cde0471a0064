//! The plan: one row per object (action, kind, namespace, name, details, warnings), shown as a
//! table on stderr, summarised in one line, and written as a document for `-o json|yaml`.

use std::collections::BTreeSet;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};

use super::object::get_value;
use super::record::UndoEntry;
use super::write::Operation;
use super::{Change, ChangeError, DOCUMENT_API_VERSION};
use crate::cluster::Cluster;
use crate::cluster::access::AccessRequest;

/// How an action is shown: its colour in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Something is added (green).
    Add,
    /// Something is changed (yellow).
    Change,
    /// Something is removed (red).
    Remove,
    /// Nothing happens.
    Neutral,
    /// The row stops the whole plan (red): nothing is written while one exists.
    Blocked,
}

/// What a row does, in the words of the plan, the result line and the summary. Commands may
/// define their own (the fields are public); the common ones are below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// Machine name, in the `-o` document (`create`, `alreadyDeleted`).
    pub id: &'static str,
    /// The plan's word (`create`, `already deleted`).
    pub word: &'static str,
    /// The result line's word, as kubectl prints it (`created`, `configured`, `labeled`).
    pub done: &'static str,
    /// The summary's phrase after the count (`to create`, `unchanged`).
    pub summary: &'static str,
    /// The verb of a failure message: `cannot <verb> <object>`.
    pub verb: &'static str,
    pub tone: Tone,
}

impl Action {
    pub const CREATE: Action = Action {
        id: "create",
        word: "create",
        done: "created",
        summary: "to create",
        verb: "apply",
        tone: Tone::Add,
    };
    pub const UPDATE: Action = Action {
        id: "update",
        word: "update",
        done: "configured",
        summary: "to update",
        verb: "apply",
        tone: Tone::Change,
    };
    pub const UNCHANGED: Action = Action {
        id: "unchanged",
        word: "unchanged",
        done: "unchanged",
        summary: "unchanged",
        verb: "apply",
        tone: Tone::Neutral,
    };
    pub const CONFLICT: Action = Action {
        id: "conflict",
        word: "conflict",
        done: "not changed",
        summary: "in conflict",
        verb: "apply",
        tone: Tone::Blocked,
    };
    pub const DELETE: Action = Action {
        id: "delete",
        word: "delete",
        done: "deleted",
        summary: "to delete",
        verb: "delete",
        tone: Tone::Remove,
    };
    pub const RESTORE: Action = Action {
        id: "restore",
        word: "restore",
        done: "restored",
        summary: "to restore",
        verb: "restore",
        tone: Tone::Change,
    };
    pub const RECREATE: Action = Action {
        id: "recreate",
        word: "recreate",
        done: "created",
        summary: "to re-create",
        verb: "create",
        tone: Tone::Add,
    };
    pub const ALREADY_DELETED: Action = Action {
        id: "alreadyDeleted",
        word: "already deleted",
        done: "already deleted",
        summary: "already deleted",
        verb: "delete",
        tone: Tone::Neutral,
    };
    pub const SKIP: Action = Action {
        id: "skip",
        word: "skip",
        done: "skipped",
        summary: "skipped",
        verb: "change",
        tone: Tone::Neutral,
    };
    pub const LABEL: Action = Action {
        id: "label",
        word: "label",
        done: "labeled",
        summary: "to label",
        verb: "label",
        tone: Tone::Change,
    };
    pub const PATCH: Action = Action {
        id: "patch",
        word: "patch",
        done: "patched",
        summary: "to patch",
        verb: "patch",
        tone: Tone::Change,
    };
    /// The object could not be read while planning (403): its rights are listed instead.
    pub const UNREADABLE: Action = Action {
        id: "unreadable",
        word: "cannot read",
        done: "not changed",
        summary: "not readable",
        verb: "read",
        tone: Tone::Blocked,
    };

    pub fn blocks(&self) -> bool {
        self.tone == Tone::Blocked
    }

    fn color(&self) -> Option<Color> {
        match self.tone {
            Tone::Add => Some(Color::Green),
            Tone::Change => Some(Color::Yellow),
            Tone::Remove | Tone::Blocked => Some(Color::Red),
            Tone::Neutral => None,
        }
    }
}

/// What a change decided to do to its object, given the object as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub action: Action,
    /// For the table's DETAILS column and the document (`spec.http, metadata.labels`).
    pub details: String,
    pub warnings: Vec<String>,
    /// What to send, in order; empty when nothing is written.
    pub writes: Vec<Operation>,
    /// Recorded in the undo file before the first write.
    pub undo: Option<UndoEntry>,
    /// Further fields of this row in the `-o` document (`changes`, `managers`).
    pub extra: Map<String, Value>,
}

impl Decision {
    /// A decision that writes nothing.
    pub fn none(action: Action, details: impl Into<String>) -> Decision {
        Decision {
            action,
            details: details.into(),
            warnings: Vec::new(),
            writes: Vec::new(),
            undo: None,
            extra: Map::new(),
        }
    }

    /// A decision that sends `writes`, recording `undo` first.
    pub fn write(
        action: Action,
        details: impl Into<String>,
        writes: Vec<Operation>,
        undo: Option<UndoEntry>,
    ) -> Decision {
        Decision {
            writes,
            undo,
            ..Decision::none(action, details)
        }
    }

    pub fn with_extra(mut self, key: &str, value: Value) -> Decision {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn with_warning(mut self, warning: impl Into<String>) -> Decision {
        self.warnings.push(warning.into());
        self
    }

    pub fn writes(&self) -> bool {
        !self.writes.is_empty()
    }
}

/// One object of a plan.
#[derive(Debug, Clone)]
pub struct PlanItem<C> {
    pub change: C,
    /// The object as read while planning (`None`: absent, or not readable).
    pub live: Option<Value>,
    pub decision: Decision,
}

/// What a command will do, object by object, in write order.
#[derive(Debug, Clone)]
pub struct Plan<C> {
    pub items: Vec<PlanItem<C>>,
    /// Rights whose absence stopped planning: reads the server refused (403).
    pub forbidden: Vec<AccessRequest>,
    /// The actions this command uses, in the order of the summary (zeros are counted in the
    /// document, left out of the line).
    pub vocabulary: &'static [Action],
}

impl<C: Change> Plan<C> {
    /// Read every change's object (a few GETs at a time) and let it decide. A read the server
    /// refuses with 403 does not stop planning: the object's row says so and its right is
    /// listed with the others before anything is written.
    pub async fn read(
        cluster: &Cluster,
        changes: Vec<C>,
        vocabulary: &'static [Action],
        concurrent_reads: usize,
    ) -> Result<Plan<C>, ChangeError> {
        let lives: Vec<Result<Option<Value>, ChangeError>> =
            stream::iter(changes.iter().map(|c| get_value(cluster, c.key())))
                .buffered(concurrent_reads.max(1))
                .collect()
                .await;
        let mut pairs = Vec::with_capacity(changes.len());
        let mut forbidden = BTreeSet::new();
        for (change, live) in changes.into_iter().zip(lives) {
            match live {
                Ok(live) => pairs.push((change, Ok(live))),
                Err(e) if e.is_forbidden() => {
                    forbidden.insert(super::rights::request_for("get", change.key()));
                    pairs.push((change, Err(())));
                }
                Err(e) => return Err(e),
            }
        }
        let mut plan = Plan::decide(pairs, vocabulary);
        plan.forbidden = forbidden.into_iter().collect();
        Ok(plan)
    }

    /// A plan from objects the command read itself (`Err(())`: not readable).
    pub fn decide(
        pairs: Vec<(C, Result<Option<Value>, ()>)>,
        vocabulary: &'static [Action],
    ) -> Plan<C> {
        let items = pairs
            .into_iter()
            .map(|(change, live)| match live {
                Ok(live) => {
                    let decision = change.decide(live.as_ref());
                    PlanItem {
                        change,
                        live,
                        decision,
                    }
                }
                Err(()) => PlanItem {
                    change,
                    live: None,
                    decision: Decision::none(
                        Action::UNREADABLE,
                        "the server refused to show it (403): see the missing rights below",
                    ),
                },
            })
            .collect();
        Plan {
            items,
            forbidden: Vec::new(),
            vocabulary,
        }
    }

    pub fn count(&self, action: &Action) -> usize {
        self.items
            .iter()
            .filter(|i| i.decision.action.id == action.id)
            .count()
    }

    /// Rows that stop the plan (conflicts, unreadable objects).
    pub fn blocked(&self) -> impl Iterator<Item = &PlanItem<C>> {
        self.items.iter().filter(|i| i.decision.action.blocks())
    }

    /// How many objects would be written.
    pub fn writes(&self) -> usize {
        self.items.iter().filter(|i| i.decision.writes()).count()
    }

    fn actions_in_order(&self) -> Vec<Action> {
        let mut actions: Vec<Action> = self.vocabulary.to_vec();
        for item in &self.items {
            if !actions.iter().any(|a| a.id == item.decision.action.id) {
                actions.push(item.decision.action);
            }
        }
        actions
    }

    /// `3 to create, 1 to update, 5 unchanged, 1 in conflict`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .actions_in_order()
            .iter()
            .filter_map(|a| {
                let n = self.count(a);
                (n > 0).then(|| format!("{n} {}", a.summary))
            })
            .collect();
        if parts.is_empty() {
            "no objects".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// The plan as a table, for stderr.
    pub fn table(&self, color: bool) -> String {
        let warnings = self.items.iter().any(|i| !i.decision.warnings.is_empty());
        let mut header = vec!["ACTION", "KIND", "NAMESPACE", "NAME", "DETAILS"];
        if warnings {
            header.push("WARNINGS");
        }
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        if !color {
            table.force_no_tty();
        }
        // On a terminal the table fits its width; elsewhere rows stay whole (one object per
        // line for grep) unless COLUMNS asks for a width.
        if let Some(width) = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<u16>().ok())
        {
            table.set_width(width);
        }
        table.set_header(header);
        for item in &self.items {
            let key = item.change.key();
            let action = &item.decision.action;
            let mut cell = Cell::new(action.word);
            if color && let Some(c) = action.color() {
                cell = cell.fg(c);
            }
            let mut row = vec![
                cell,
                Cell::new(&key.kind),
                Cell::new(key.namespace.as_deref().unwrap_or("")),
                Cell::new(&key.name),
                Cell::new(&item.decision.details),
            ];
            if warnings {
                row.push(Cell::new(item.decision.warnings.join("; ")));
            }
            table.add_row(row);
        }
        format!("{table}\n")
    }

    /// The plan as a document (`apiVersion: appmesh2istio.io/v1alpha1`, `kind: plan_kind`):
    /// `header`'s fields, a count per action, and one item per row; `results[i]`, when given,
    /// is added to item `i`.
    pub fn document(
        &self,
        plan_kind: &str,
        header: &Map<String, Value>,
        results: Option<&[Map<String, Value>]>,
    ) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let key = item.change.key();
                let mut entry = Map::new();
                entry.insert("apiVersion".into(), json!(key.api_version));
                entry.insert("kind".into(), json!(key.kind));
                entry.insert("namespace".into(), json!(key.namespace));
                entry.insert("name".into(), json!(key.name));
                entry.insert("action".into(), json!(item.decision.action.id));
                if !item.decision.details.is_empty() {
                    entry.insert("details".into(), json!(item.decision.details));
                }
                if !item.decision.warnings.is_empty() {
                    entry.insert("warnings".into(), json!(item.decision.warnings));
                }
                for (k, v) in &item.decision.extra {
                    entry.insert(k.clone(), v.clone());
                }
                if let Some(result) = results.and_then(|r| r.get(i)) {
                    for (k, v) in result {
                        entry.insert(k.clone(), v.clone());
                    }
                }
                Value::Object(entry)
            })
            .collect();
        let mut document = Map::new();
        document.insert("apiVersion".into(), json!(DOCUMENT_API_VERSION));
        document.insert("kind".into(), json!(plan_kind));
        for (k, v) in header {
            document.insert(k.clone(), v.clone());
        }
        let mut summary = Map::new();
        for action in self.actions_in_order() {
            summary.insert(action.id.into(), json!(self.count(&action)));
        }
        document.insert("summary".into(), Value::Object(summary));
        if !self.forbidden.is_empty() {
            document.insert(
                "forbidden".into(),
                json!(
                    self.forbidden
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                ),
            );
        }
        document.insert("items".into(), Value::Array(items));
        Value::Object(document)
    }
}
