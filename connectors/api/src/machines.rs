//! State machine operations: Create, Describe, List, Update, Delete,
//! DescribeStateMachineForExecution, versions, aliases and tags.

use crate::Api;
use crate::arn::{Qualifier, check_name};
use crate::registry::{
    Alias, MAX_ALIASES, MAX_DEFINITION_CHARS, MAX_MACHINES, MAX_TAGS, MAX_VERSIONS, Machine, Revision, Room, Route,
    Version, compile, revision_id,
};
use crate::wire::{ApiError, ErrorKind, Fields, Reply, paged, timestamp};
use expressway_runtime::clock::wall_ms;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn machine_type(f: &Fields) -> Result<bool, ApiError> {
    match f.opt_str("type")? {
        None | Some("STANDARD") => Ok(false),
        Some("EXPRESS") => Ok(true),
        Some(other) => Err(ApiError::validation(
            "type",
            &format!("'{other}'"),
            "Member must satisfy enum value set: [STANDARD, EXPRESS]",
        )),
    }
}

fn definition<'a>(f: &Fields<'a>) -> Result<Option<&'a str>, ApiError> {
    let d = f.opt_str("definition")?;
    if let Some(d) = d
        && (d.is_empty() || d.chars().count() > MAX_DEFINITION_CHARS)
    {
        return Err(ApiError::validation(
            "definition",
            "'<sensitive>'",
            &format!("Member must have length between 1 and {MAX_DEFINITION_CHARS}"),
        ));
    }
    Ok(d)
}

fn role_arn(role: &str) -> Result<(), ApiError> {
    if role.starts_with("arn:") && role.split(':').count() >= 6 { Ok(()) } else { Err(ApiError::invalid_arn(role)) }
}

fn logging(f: &Fields, express: bool) -> Result<Value, ApiError> {
    let Some(l) = f.get("loggingConfiguration") else {
        return Ok(json!({"level": "OFF", "includeExecutionData": false}));
    };
    let level = l.get("level").and_then(Value::as_str).unwrap_or("OFF");
    if !matches!(level, "ALL" | "ERROR" | "FATAL" | "OFF") {
        return Err(ApiError::validation(
            "loggingConfiguration.level",
            &format!("'{level}'"),
            "Member must satisfy enum value set: [ALL, ERROR, FATAL, OFF]",
        ));
    }
    let destinations = l.get("destinations").and_then(Value::as_array).map_or(0, Vec::len);
    if level != "OFF" && destinations == 0 {
        let kind = if express { "Express" } else { "Standard" };
        return Err(ApiError::new(
            ErrorKind::InvalidLoggingConfiguration,
            format!(
                "Invalid Logging Configuration: Must specify exactly one Log Destination for {kind} state machines with logging level {level}."
            ),
        ));
    }
    let mut out = Map::new();
    out.insert("level".into(), json!(level));
    out.insert(
        "includeExecutionData".into(),
        json!(l.get("includeExecutionData").and_then(Value::as_bool).unwrap_or(false)),
    );
    if destinations > 0 {
        out.insert("destinations".into(), l["destinations"].clone());
    }
    Ok(Value::Object(out))
}

fn tags_of(v: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut tags = BTreeMap::new();
    let Some(v) = v else { return Ok(tags) };
    let list = v.as_array().ok_or_else(|| ApiError::new(ErrorKind::SerializationException, "tags must be a list"))?;
    for t in list {
        let key = t.get("key").and_then(Value::as_str).ok_or_else(|| ApiError::missing("tags.member.key"))?;
        let value = t.get("value").and_then(Value::as_str).unwrap_or("");
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(ApiError::validation(
                "tags.member.key",
                &format!("'{key}'"),
                "Member must have length between 1 and 128",
            ));
        }
        tags.insert(key.to_string(), value.to_string());
    }
    Ok(tags)
}

fn too_many_tags(arn: &str) -> ApiError {
    ApiError::new(ErrorKind::TooManyTags, format!("Too many tags on resource '{arn}' (at most {MAX_TAGS})"))
}

fn config_owned(arn: &str) -> ApiError {
    ApiError::new(
        ErrorKind::ValidationException,
        format!("'{arn}' belongs to a pipeline of the configuration file and is changed there, not through the API"),
    )
}

/// Publish the machine's current definition as its next version.
/// Publish `m`'s latest revision as a version, if it is not the last one
/// already; `room` is what the registry has left for it.
fn publish(api: &Api, m: &mut Machine, description: Option<String>, room: Room) -> Result<String, ApiError> {
    if m.versions.len() >= MAX_VERSIONS {
        return Err(ApiError::new(
            ErrorKind::ServiceQuotaExceededException,
            format!("The maximum number of versions ({MAX_VERSIONS}) has been reached for this state machine"),
        ));
    }
    // Publishing an unchanged definition again gives back the latest version.
    if let Some((n, v)) = m.versions.iter().next_back()
        && v.revision.revision_id == m.latest.revision_id
    {
        return Ok(api.partition.version(&m.name, *n));
    }
    room.fits(crate::registry::version_weight(description.as_deref()))?;
    let n = m.next_version;
    m.next_version += 1;
    m.versions.insert(n, Version { revision: m.latest.clone(), description, created_ms: wall_ms() });
    Ok(api.partition.version(&m.name, n))
}

pub fn create(api: &Api, f: Fields) -> Reply {
    let name = f.str("name")?;
    let definition = definition(&f)?.ok_or_else(|| ApiError::missing("definition"))?;
    let role = f.str("roleArn")?;
    check_name(name, 80)?;
    role_arn(role)?;
    let express = machine_type(&f)?;
    let logging = logging(&f, express)?;
    let tags = tags_of(f.get("tags"))?;
    if tags.len() > MAX_TAGS {
        return Err(too_many_tags(name));
    }
    let publish_it = f.opt_bool("publish")?.unwrap_or(false);
    let description = f.opt_str_max("versionDescription", 256)?.map(str::to_string);
    if description.is_some() && !publish_it {
        return Err(ApiError::new(
            ErrorKind::ValidationException,
            "Version description can only be set when publish is true",
        ));
    }
    let program = Arc::new(compile(definition, express)?);
    let arn = api.partition.machine(name);
    let mut registry = api.write_registry();
    if let Some(existing) = registry.get(name) {
        // Created again with exactly the same settings: the same machine.
        let same = &*existing.latest.definition == definition
            && existing.latest.role_arn == role
            && existing.express == express
            && existing.logging == logging
            && !publish_it;
        if same {
            return Ok(json!({"stateMachineArn": arn, "creationDate": timestamp(existing.created_ms)}));
        }
        return Err(ApiError::new(
            ErrorKind::StateMachineAlreadyExists,
            format!("State Machine Already Exists: '{arn}'"),
        ));
    }
    if registry.len() >= MAX_MACHINES {
        return Err(ApiError::new(
            ErrorKind::ServiceQuotaExceededException,
            format!("The maximum number of state machines ({MAX_MACHINES}) has been reached"),
        ));
    }
    let weight = crate::registry::weight(definition.len(), &program);
    let room = registry.room();
    room.fits(weight)?;
    let now = wall_ms();
    let mut m = Machine {
        name: name.to_string(),
        express,
        created_ms: now,
        updated_ms: now,
        latest: Revision { definition: definition.into(), program, revision_id: revision_id(), role_arn: role.into() },
        description: None,
        logging,
        tracing: f.get("tracingConfiguration").cloned().unwrap_or_else(|| json!({"enabled": false})),
        tags,
        versions: BTreeMap::new(),
        next_version: 1,
        aliases: BTreeMap::new(),
        from_config: false,
    };
    let mut out = json!({"stateMachineArn": arn, "creationDate": timestamp(now)});
    if publish_it {
        out["stateMachineVersionArn"] = json!(publish(api, &mut m, description, room.after(weight))?);
    }
    registry.change(name, |registry| {
        registry.insert(m);
        Ok(out)
    })
}

pub fn describe(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineArn")?;
    let r = api.partition.parse_machine(arn)?;
    let registry = api.read_registry();
    let m = registry.get(&r.name).ok_or_else(|| registry.does_not_exist(arn))?;
    let (revision, shown_arn, description, created) = match &r.qualifier {
        Qualifier::Latest => (&m.latest, api.partition.machine(&m.name), m.description.clone(), m.created_ms),
        Qualifier::Version(n) => {
            let v = m.versions.get(n).ok_or_else(|| registry.does_not_exist(arn))?;
            (&v.revision, arn.to_string(), v.description.clone(), v.created_ms)
        }
        Qualifier::Alias(_) => {
            return Err(ApiError::invalid_arn(arn));
        }
    };
    let mut out = json!({
        "stateMachineArn": shown_arn,
        "name": m.name,
        "status": "ACTIVE",
        "definition": &*revision.definition,
        "roleArn": revision.role_arn,
        "type": if m.express { "EXPRESS" } else { "STANDARD" },
        "creationDate": timestamp(created),
        "loggingConfiguration": m.logging,
        "tracingConfiguration": m.tracing,
        "revisionId": revision.revision_id,
    });
    if let Some(d) = description {
        out["description"] = json!(d);
    }
    Ok(out)
}

pub fn list(api: &Api, f: Fields) -> Reply {
    let registry = api.read_registry();
    let all: Vec<Value> = registry
        .machines()
        .map(|m| {
            json!({
                "stateMachineArn": api.partition.machine(&m.name),
                "name": m.name,
                "type": if m.express { "EXPRESS" } else { "STANDARD" },
                "creationDate": timestamp(m.created_ms),
            })
        })
        .collect();
    paged("stateMachines", &all, &f)
}

pub fn update(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineArn")?;
    let r = api.partition.parse_machine(arn)?;
    if r.qualifier != Qualifier::Latest {
        return Err(ApiError::new(
            ErrorKind::ValidationException,
            "Service does not support updating a state machine version or alias ARN",
        ));
    }
    let definition = definition(&f)?;
    let role = f.opt_str("roleArn")?;
    let has_logging = f.get("loggingConfiguration").is_some();
    let has_tracing = f.get("tracingConfiguration").is_some();
    let publish_it = f.opt_bool("publish")?.unwrap_or(false);
    let description = f.opt_str_max("versionDescription", 256)?.map(str::to_string);
    if definition.is_none() && role.is_none() && !has_logging && !has_tracing && !publish_it {
        return Err(ApiError::new(
            ErrorKind::ValidationException,
            "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be specified",
        ));
    }
    if let Some(role) = role {
        role_arn(role)?;
    }
    let mut registry = api.write_registry();
    let not_found = registry.does_not_exist(arn);
    let room = registry.room_replacing(&r.name);
    registry.change(&r.name, |registry| {
        let m = registry.get_mut(&r.name).ok_or(not_found)?;
        if m.from_config {
            return Err(config_owned(arn));
        }
        let logging = if has_logging { Some(logging(&f, m.express)?) } else { None };
        let mut room_left = room;
        let program = match definition {
            Some(d) => {
                let program = Arc::new(compile(d, m.express)?);
                if d != &*m.latest.definition {
                    let weight = crate::registry::weight(d.len(), &program);
                    room.fits(weight)?;
                    room_left = room.after(weight);
                }
                Some(program)
            }
            None => None,
        };
        let now = wall_ms();
        let changed =
            definition.is_some_and(|d| d != &*m.latest.definition) || role.is_some_and(|r| r != m.latest.role_arn);
        if let (Some(d), Some(p)) = (definition, program) {
            m.latest.definition = d.into();
            m.latest.program = p;
        }
        if let Some(role) = role {
            m.latest.role_arn = role.into();
        }
        if changed {
            m.latest.revision_id = revision_id();
        }
        if let Some(l) = logging {
            m.logging = l;
        }
        if let Some(t) = f.get("tracingConfiguration") {
            m.tracing = t.clone();
        }
        m.updated_ms = now;
        let revision = m.latest.revision_id.clone();
        let mut out = json!({"updateDate": timestamp(now), "revisionId": revision});
        if publish_it {
            out["stateMachineVersionArn"] = json!(publish(api, m, description, room_left)?);
        }
        Ok(out)
    })
}

pub fn delete(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineArn")?;
    let r = api.partition.parse_machine(arn)?;
    if r.qualifier != Qualifier::Latest {
        return Err(ApiError::new(
            ErrorKind::ValidationException,
            "Use DeleteStateMachineVersion or DeleteStateMachineAlias to delete a version or an alias",
        ));
    }
    let mut registry = api.write_registry();
    if registry.get(&r.name).is_some_and(|m| m.from_config) {
        return Err(config_owned(arn));
    }
    if registry.change(&r.name, |registry| Ok(registry.remove(&r.name).is_some()))? {
        drop(registry);
        api.executions().forget_machine(&api.partition.machine(&r.name));
    }
    Ok(json!({}))
}

pub fn describe_for_execution(api: &Api, f: Fields) -> Reply {
    let arn = f.str("executionArn")?;
    api.partition.parse_execution(arn)?;
    let e = api.executions().get(arn).ok_or_else(|| crate::executions::Store::not_found(arn))?;
    let machine = e.version_arn.clone().unwrap_or_else(|| e.machine_arn.clone());
    describe(api, Fields(json!({"stateMachineArn": machine}).as_object().expect("an object")))
}

pub fn publish_version(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineArn")?;
    let r = api.partition.parse_machine(arn)?;
    let description = f.opt_str_max("description", 256)?.map(str::to_string);
    let mut registry = api.write_registry();
    let not_found = registry.does_not_exist(arn);
    let room = registry.room();
    registry.change(&r.name, |registry| {
        let m = registry.get_mut(&r.name).ok_or(not_found)?;
        if let Some(expected) = f.opt_str("revisionId")?
            && expected != m.latest.revision_id
        {
            return Err(ApiError::new(
                ErrorKind::ConflictException,
                format!(
                    "Failed to publish the State Machine version for revision {expected}. The current State Machine revision is {}.",
                    m.latest.revision_id
                ),
            ));
        }
        let version = publish(api, m, description, room)?;
        let created = m.versions.values().next_back().map_or(0, |v| v.created_ms);
        Ok(json!({"stateMachineVersionArn": version, "creationDate": timestamp(created)}))
    })
}

pub fn list_versions(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineArn")?;
    let r = api.partition.parse_machine(arn)?;
    let registry = api.read_registry();
    let m = registry.get(&r.name).ok_or_else(|| registry.does_not_exist(arn))?;
    let all: Vec<Value> = m
        .versions
        .iter()
        .rev()
        .map(|(n, v)| json!({"stateMachineVersionArn": api.partition.version(&m.name, *n), "creationDate": timestamp(v.created_ms)}))
        .collect();
    paged("stateMachineVersions", &all, &f)
}

pub fn delete_version(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineVersionArn")?;
    let r = api.partition.parse_machine(arn)?;
    let Qualifier::Version(n) = r.qualifier else {
        return Err(ApiError::invalid_arn(arn));
    };
    let mut registry = api.write_registry();
    registry.change(&r.name, |registry| {
        if let Some(m) = registry.get_mut(&r.name) {
            if let Some((alias, _)) = m.aliases.iter().find(|(_, a)| a.routes.iter().any(|route| route.version == n)) {
                return Err(ApiError::new(
                    ErrorKind::ConflictException,
                    format!(
                        "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [{}]",
                        api.partition.alias(&r.name, alias)
                    ),
                ));
            }
            m.versions.remove(&n);
        }
        Ok(json!({}))
    })
}

fn routes(api: &Api, m: &Machine, f: &Fields) -> Result<Vec<Route>, ApiError> {
    let list = f
        .get("routingConfiguration")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::missing("routingConfiguration"))?;
    if list.is_empty() || list.len() > 2 {
        return Err(ApiError::validation("routingConfiguration", "[]", "Member must have length between 1 and 2"));
    }
    let mut out = Vec::new();
    for r in list {
        let version_arn = r
            .get("stateMachineVersionArn")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::missing("routingConfiguration.member.stateMachineVersionArn"))?;
        let weight = r.get("weight").and_then(Value::as_u64).filter(|w| *w <= 100).ok_or_else(|| {
            ApiError::validation(
                "routingConfiguration.member.weight",
                "null",
                "Member must have value between 0 and 100",
            )
        })?;
        let parsed = api.partition.parse_machine(version_arn)?;
        let Qualifier::Version(n) = parsed.qualifier else {
            return Err(ApiError::invalid_arn(version_arn));
        };
        if parsed.name != m.name || !m.versions.contains_key(&n) {
            return Err(ApiError::resource_not_found(version_arn));
        }
        if out.iter().any(|x: &Route| x.version == n) {
            return Err(ApiError::new(
                ErrorKind::ValidationException,
                "Routing configuration must contain distinct state machine version ARNs",
            ));
        }
        out.push(Route { version: n, weight: weight as u32 });
    }
    if out.iter().map(|r| r.weight).sum::<u32>() != 100 {
        return Err(ApiError::new(
            ErrorKind::ValidationException,
            "Sum of routing configuration weights must be equal to 100",
        ));
    }
    Ok(out)
}

fn alias_name_of(api: &Api, arn: &str) -> Result<(String, String), ApiError> {
    let r = api.partition.parse_machine(arn)?;
    match r.qualifier {
        Qualifier::Alias(a) => Ok((r.name, a)),
        _ => Err(ApiError::invalid_arn(arn)),
    }
}

pub fn create_alias(api: &Api, f: Fields) -> Reply {
    let name = f.str("name")?;
    check_name(name, 80)?;
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::new(
            ErrorKind::InvalidName,
            format!("Invalid Name: '{name}' (an alias name cannot be a number)"),
        ));
    }
    let description = f.opt_str_max("description", 256)?.map(str::to_string);
    let first = f
        .get("routingConfiguration")
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(|r| r.get("stateMachineVersionArn"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::missing("routingConfiguration"))?;
    let machine = api.partition.parse_machine(first)?.name;
    let mut registry = api.write_registry();
    let not_found = registry.does_not_exist(first);
    registry.change(&machine, |registry| {
        let m = registry.get_mut(&machine).ok_or(not_found)?;
        let routes = routes(api, m, &f)?;
        let arn = api.partition.alias(&machine, name);
        if let Some(existing) = m.aliases.get(name) {
            if existing.routes == routes && existing.description == description {
                return Ok(json!({"stateMachineAliasArn": arn, "creationDate": timestamp(existing.created_ms)}));
            }
            return Err(ApiError::new(
                ErrorKind::ConflictException,
                format!("Alias {arn} already exists with a different configuration"),
            ));
        }
        if m.aliases.len() >= MAX_ALIASES {
            return Err(ApiError::new(
                ErrorKind::ServiceQuotaExceededException,
                format!("The maximum number of aliases ({MAX_ALIASES}) has been reached for this state machine"),
            ));
        }
        let now = wall_ms();
        m.aliases.insert(name.to_string(), Alias { description, routes, created_ms: now, updated_ms: now });
        Ok(json!({"stateMachineAliasArn": arn, "creationDate": timestamp(now)}))
    })
}

fn render_alias(api: &Api, machine: &str, name: &str, a: &Alias) -> Value {
    let routing: Vec<Value> = a
        .routes
        .iter()
        .map(|r| json!({"stateMachineVersionArn": api.partition.version(machine, r.version), "weight": r.weight}))
        .collect();
    let mut out = json!({
        "stateMachineAliasArn": api.partition.alias(machine, name),
        "name": name,
        "routingConfiguration": routing,
        "creationDate": timestamp(a.created_ms),
        "updateDate": timestamp(a.updated_ms),
    });
    if let Some(d) = &a.description {
        out["description"] = json!(d);
    }
    out
}

pub fn describe_alias(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineAliasArn")?;
    let (machine, name) = alias_name_of(api, arn)?;
    let registry = api.read_registry();
    let not_found = || ApiError::resource_not_found(arn);
    let a = registry.get(&machine).and_then(|m| m.aliases.get(&name)).ok_or_else(not_found)?;
    Ok(render_alias(api, &machine, &name, a))
}

pub fn list_aliases(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineArn")?;
    let r = api.partition.parse_machine(arn)?;
    let registry = api.read_registry();
    let m = registry.get(&r.name).ok_or_else(|| registry.does_not_exist(arn))?;
    let all: Vec<Value> = m
        .aliases
        .iter()
        .map(|(n, a)| json!({"stateMachineAliasArn": api.partition.alias(&m.name, n), "creationDate": timestamp(a.created_ms)}))
        .collect();
    paged("stateMachineAliases", &all, &f)
}

pub fn update_alias(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineAliasArn")?;
    let (machine, name) = alias_name_of(api, arn)?;
    let mut registry = api.write_registry();
    let not_found = ApiError::resource_not_found(arn);
    registry.change(&machine, |registry| {
        let m = registry.get_mut(&machine).ok_or(not_found.clone())?;
        let routes = if f.get("routingConfiguration").is_some() { Some(routes(api, m, &f)?) } else { None };
        let description = f.opt_str_max("description", 256)?.map(str::to_string);
        let a = m.aliases.get_mut(&name).ok_or(not_found)?;
        if let Some(r) = routes {
            a.routes = r;
        }
        if description.is_some() {
            a.description = description;
        }
        a.updated_ms = wall_ms();
        let updated = a.updated_ms;
        Ok(json!({"updateDate": timestamp(updated)}))
    })
}

pub fn delete_alias(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineAliasArn")?;
    let (machine, name) = alias_name_of(api, arn)?;
    let mut registry = api.write_registry();
    if registry.get(&machine).is_some_and(|m| m.aliases.contains_key(&name)) {
        registry.change(&machine, |registry| {
            if let Some(m) = registry.get_mut(&machine) {
                m.aliases.remove(&name);
            }
            Ok(())
        })?;
    }
    Ok(json!({}))
}

fn tagged_machine(api: &Api, arn: &str) -> Result<String, ApiError> {
    let r = api.partition.parse_machine(arn)?;
    if r.qualifier != Qualifier::Latest {
        return Err(ApiError::invalid_arn(arn));
    }
    Ok(r.name)
}

pub fn tag(api: &Api, f: Fields) -> Reply {
    let arn = f.str("resourceArn")?;
    let name = tagged_machine(api, arn)?;
    let tags = tags_of(Some(f.get("tags").ok_or_else(|| ApiError::missing("tags"))?))?;
    let mut registry = api.write_registry();
    let not_found = ApiError::resource_not_found(arn);
    registry.change(&name, |registry| {
        let m = registry.get_mut(&name).ok_or(not_found)?;
        m.tags.extend(tags);
        if m.tags.len() > MAX_TAGS {
            return Err(too_many_tags(arn));
        }
        Ok(json!({}))
    })
}

pub fn untag(api: &Api, f: Fields) -> Reply {
    let arn = f.str("resourceArn")?;
    let name = tagged_machine(api, arn)?;
    let keys = f.get("tagKeys").and_then(Value::as_array).ok_or_else(|| ApiError::missing("tagKeys"))?;
    let mut registry = api.write_registry();
    let not_found = ApiError::resource_not_found(arn);
    registry.change(&name, |registry| {
        let m = registry.get_mut(&name).ok_or(not_found)?;
        for k in keys.iter().filter_map(Value::as_str) {
            m.tags.remove(k);
        }
        Ok(json!({}))
    })
}

pub fn list_tags(api: &Api, f: Fields) -> Reply {
    let arn = f.str("resourceArn")?;
    let name = tagged_machine(api, arn)?;
    let registry = api.read_registry();
    let not_found = || ApiError::resource_not_found(arn);
    let m = registry.get(&name).ok_or_else(not_found)?;
    let tags: Vec<Value> = m.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
    Ok(json!({"tags": tags}))
}
