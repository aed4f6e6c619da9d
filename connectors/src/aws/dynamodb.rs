//! DynamoDB: the `arn:aws:states:::dynamodb:putItem|getItem|updateItem|
//! deleteItem` tasks (parameters and results in DynamoDB's attribute-value
//! JSON, as on AWS) and the dedup store (a conditional `PutItem`).

use super::Aws;
use super::errors::{DYNAMODB, describe, failure};
use super::response::with_metadata;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use base64::Engine as _;
use dashmap::DashSet;
use expressway_engine::{TaskOutcome, Value};
use expressway_runtime::{Claim, DedupStore, PendingClaims};
use futures_util::{StreamExt, stream};
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PutItem,
    GetItem,
    UpdateItem,
    DeleteItem,
}

impl Operation {
    pub fn parse(name: &str) -> Option<Operation> {
        Some(match name {
            "putItem" => Operation::PutItem,
            "getItem" => Operation::GetItem,
            "updateItem" => Operation::UpdateItem,
            "deleteItem" => Operation::DeleteItem,
            _ => return None,
        })
    }
}

fn bad(message: String) -> TaskOutcome {
    TaskOutcome::Failed { error: "States.Runtime".into(), cause: Some(message) }
}

pub async fn call(client: &Client, op: Operation, params: &Value) -> TaskOutcome {
    let params = Json::from(params);
    let Some(table) = params.get("TableName").and_then(Json::as_str) else {
        return bad("The DynamoDB parameters must contain a string 'TableName'".into());
    };
    let item = |field: &str| match params.get(field) {
        None => Ok(None),
        Some(v) => to_item(v).map(Some).map_err(|e| bad(format!("{field}: {e}"))),
    };
    let names: Option<HashMap<String, String>> = params
        .get("ExpressionAttributeNames")
        .and_then(Json::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect());
    let (values, key, new_item) = match (item("ExpressionAttributeValues"), item("Key"), item("Item")) {
        (Ok(v), Ok(k), Ok(i)) => (v, k, i),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
    };
    let text = |field: &str| params.get(field).and_then(Json::as_str).map(str::to_string);
    let return_values = text("ReturnValues").map(|r| ReturnValue::from(r.as_str()));
    let result: Result<Json, TaskOutcome> = match op {
        Operation::PutItem => client
            .put_item()
            .table_name(table)
            .set_item(new_item)
            .set_condition_expression(text("ConditionExpression"))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .set_return_values(return_values)
            .send()
            .await
            .map(|o| with_attributes(o.attributes(), o.request_id()))
            .map_err(|e| failure(DYNAMODB, &e)),
        Operation::GetItem => client
            .get_item()
            .table_name(table)
            .set_key(key)
            .set_projection_expression(text("ProjectionExpression"))
            .set_consistent_read(params.get("ConsistentRead").and_then(Json::as_bool))
            .set_expression_attribute_names(names)
            .send()
            .await
            .map(|o| {
                let mut out = metadata(o.request_id());
                if let (Some(map), Some(item)) = (out.as_object_mut(), o.item()) {
                    map.insert("Item".into(), from_item(item));
                }
                out
            })
            .map_err(|e| failure(DYNAMODB, &e)),
        Operation::UpdateItem => client
            .update_item()
            .table_name(table)
            .set_key(key)
            .set_update_expression(text("UpdateExpression"))
            .set_condition_expression(text("ConditionExpression"))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .set_return_values(return_values)
            .send()
            .await
            .map(|o| with_attributes(o.attributes(), o.request_id()))
            .map_err(|e| failure(DYNAMODB, &e)),
        Operation::DeleteItem => client
            .delete_item()
            .table_name(table)
            .set_key(key)
            .set_condition_expression(text("ConditionExpression"))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .set_return_values(return_values)
            .send()
            .await
            .map(|o| with_attributes(o.attributes(), o.request_id()))
            .map_err(|e| failure(DYNAMODB, &e)),
    };
    match result {
        Ok(json) => TaskOutcome::Succeeded(Value::from(json)),
        Err(failed) => failed,
    }
}

fn metadata(request_id: Option<&str>) -> Json {
    Json::Object(with_metadata(request_id.unwrap_or_default(), "application/x-amz-json-1.0"))
}

fn with_attributes(attributes: Option<&Item>, request_id: Option<&str>) -> Json {
    let mut out = metadata(request_id);
    if let (Some(map), Some(a)) = (out.as_object_mut(), attributes) {
        map.insert("Attributes".into(), from_item(a));
    }
    out
}

/// `{"id": {"S": "a"}, "n": {"N": "1"}}` → SDK attribute values.
pub fn to_item(v: &Json) -> Result<Item, String> {
    let map = v.as_object().ok_or("expected an object of attribute values")?;
    map.iter().map(|(k, v)| Ok((k.clone(), to_attribute(v).map_err(|e| format!("'{k}': {e}"))?))).collect()
}

fn to_attribute(v: &Json) -> Result<AttributeValue, String> {
    let map = v.as_object().filter(|m| m.len() == 1).ok_or("an attribute value is an object with one type key")?;
    let Some((kind, inner)) = map.iter().next() else { return Err("empty attribute value".into()) };
    let text = |x: &Json| x.as_str().map(str::to_string).ok_or(format!("'{kind}' expects a string"));
    let texts = |x: &Json| -> Result<Vec<String>, String> {
        x.as_array().ok_or(format!("'{kind}' expects an array"))?.iter().map(text).collect()
    };
    let blob = |s: String| {
        base64::engine::general_purpose::STANDARD.decode(s).map(Blob::new).map_err(|e| format!("'{kind}': {e}"))
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(text(inner)?),
        "N" => AttributeValue::N(match inner {
            Json::Number(n) => n.to_string(),
            other => text(other)?,
        }),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or("'BOOL' expects a boolean")?),
        "NULL" => AttributeValue::Null(inner.as_bool().unwrap_or(true)),
        "B" => AttributeValue::B(blob(text(inner)?)?),
        "SS" => AttributeValue::Ss(texts(inner)?),
        "NS" => AttributeValue::Ns(texts(inner)?),
        "BS" => AttributeValue::Bs(texts(inner)?.into_iter().map(blob).collect::<Result<_, _>>()?),
        "L" => AttributeValue::L(
            inner.as_array().ok_or("'L' expects an array")?.iter().map(to_attribute).collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(to_item(inner)?),
        other => return Err(format!("unknown attribute type '{other}'")),
    })
}

pub fn from_item(item: &Item) -> Json {
    Json::Object(item.iter().map(|(k, v)| (k.clone(), from_attribute(v))).collect::<Map<_, _>>())
}

fn from_attribute(v: &AttributeValue) -> Json {
    let b64 = |b: &Blob| Json::String(base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Ss(s) => json!({ "SS": s }),
        AttributeValue::Ns(n) => json!({ "NS": n }),
        AttributeValue::Bs(bs) => json!({ "BS": bs.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(from_attribute).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": from_item(m) }),
        _ => Json::Null,
    }
}

/// Idempotency keys in a DynamoDB table with a string partition key `pk`.
/// `begin` claims a key with a conditional put (status `running`, expiring
/// after the TTL so a crashed claim does not block its redelivery forever);
/// `complete` marks it `done`. Shared by every replica. A twin of a
/// `running` claim is held (not acknowledged) until the claim is `done` or
/// lapses: after a crash, its redelivery waits out the claim
/// ([`CLAIM_SECONDS`]) and then runs. A claim names the store that took it
/// (`owner`, random per store), so that one whose execution was dropped at
/// the drain deadline can be given back (`release_many`: a conditional
/// delete of a `running` item of this owner only) and its redelivery, after
/// a restart, runs at once.
pub struct DynamoDedup {
    aws: Arc<Aws>,
    client: Client,
    table: String,
    ttl: Duration,
    ttl_attribute: String,
    prefix: String,
    /// Keys whose claims are sent and not yet answered: one sent again
    /// meanwhile (a shard's next batch) is a running twin without asking,
    /// so the earlier record wins, as claims sent in order would.
    asking: DashSet<String>,
    /// Written into this store's claims: only a claim of its own is given
    /// back, never one another process took over.
    owner: String,
}

/// One conditional put's answer.
type PutItemResult = Result<PutItemOutput, SdkError<PutItemError>>;

/// How long a running claim holds before a redelivery may take it over: a
/// crashed execution must not block its own redelivery for the whole TTL.
const CLAIM_SECONDS: u64 = 360;

/// Claims of one batch in flight at once: a batch of a thousand records
/// must not open a thousand connections.
const CLAIMS_AT_ONCE: usize = 64;

/// How long giving claims back may take: it runs past the drain deadline.
const RELEASE_WITHIN: Duration = Duration::from_secs(2);

/// How long one call of the store may take, retries included (one attempt:
/// [`CALL_ATTEMPT_WITHIN`]). A claim's answer is waited for on the shard
/// thread, and at the drain deadline for a batch never started: a table
/// that stops answering must not stop the shard, or its shutdown, for good.
/// A claim not answered in time runs (a duplicate at worst).
const CALL_WITHIN: Duration = Duration::from_secs(5);
const CALL_ATTEMPT_WITHIN: Duration = Duration::from_secs(2);

/// A store's name in its claims: the process and a random number, so that
/// two stores (two processes, or a restart) never share one.
fn owner_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}-{random:016x}", std::process::id())
}

impl DynamoDedup {
    pub fn open(aws: Arc<Aws>, table: &str, ttl: Duration, ttl_attribute: &str, prefix: &str) -> Result<Self, String> {
        // The expiry would overwrite (or be overwritten by) a claim's own field.
        if ["pk", "status", "owner"].contains(&ttl_attribute) {
            return Err(format!(
                "dedup ttl_attribute '{ttl_attribute}' names an attribute the store writes itself (pk, status, owner)"
            ));
        }
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .operation_timeout(CALL_WITHIN)
            .operation_attempt_timeout(CALL_ATTEMPT_WITHIN)
            .build();
        let client = aws.dynamodb();
        let client = aws_sdk_dynamodb::Client::from_conf(client.config().to_builder().timeout_config(timeouts).build());
        aws.handle()
            .block_on(client.describe_table().table_name(table).send())
            .map_err(|e| format!("DynamoDB table {table}: {}", describe(DYNAMODB, &e).1))?;
        Ok(DynamoDedup {
            aws,
            client,
            table: table.into(),
            ttl,
            ttl_attribute: ttl_attribute.into(),
            prefix: prefix.into(),
            asking: DashSet::new(),
            owner: owner_token(),
        })
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }

    /// What the claims' puts say: a refused put carries the item that
    /// refused it.
    fn read_claims(
        &self,
        count: usize,
        asked: &[usize],
        answers: Result<Result<Vec<PutItemResult>, tokio::time::error::Elapsed>, tokio::task::JoinError>,
    ) -> Vec<Claim> {
        // A key not asked (repeated, or being asked) is a running twin.
        let mut claimed = vec![Claim::Running; count];
        let answers = match answers {
            Ok(Ok(answers)) => answers,
            Ok(Err(_)) => {
                tracing::warn!(table = %self.table, "dedup claims not answered within {CALL_WITHIN:?}; running the records");
                asked.iter().for_each(|&i| claimed[i] = Claim::Run);
                return claimed;
            }
            Err(e) => {
                tracing::warn!(table = %self.table, cause = %e, "dedup claims lost; running the records");
                asked.iter().for_each(|&i| claimed[i] = Claim::Run);
                return claimed;
            }
        };
        for (&i, answer) in asked.iter().zip(answers) {
            claimed[i] = match answer {
                Ok(_) => Claim::Run,
                Err(e) => match e.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(refused)) => {
                        match refused.item().and_then(|item| item.get("status")) {
                            Some(AttributeValue::S(status)) if status == "done" => Claim::Done,
                            // A live running claim (or no item returned: ask again later).
                            _ => Claim::Running,
                        }
                    }
                    _ => {
                        // Unreachable store: run it anyway (at-least-once), and say so.
                        let cause = describe(DYNAMODB, &e).1;
                        tracing::warn!(table = %self.table, %cause, "dedup store unavailable; running the record");
                        Claim::Run
                    }
                },
            };
        }
        claimed
    }
}

impl DedupStore for DynamoDedup {
    fn begin(&self, key: &str) -> Claim {
        self.begin_many(&[key]).first().copied().unwrap_or(Claim::Run)
    }

    /// A conditional put per distinct key, all sent at once (DynamoDB has no
    /// batched conditional write that answers per item): the shard waits
    /// one round trip per batch. A key repeated in the batch is a running
    /// twin of its first occurrence without asking. A put refused by its
    /// condition returns the item that refused it: `done`, or a running claim.
    fn begin_many(&self, keys: &[&str]) -> Vec<Claim> {
        self.send_claims(keys).answers()
    }

    /// The puts run on the AWS runtime while the shard works; the answers
    /// are read when wanted.
    fn send_claims<'s>(&'s self, keys: &[&str]) -> PendingClaims<'s> {
        let now = Self::now();
        // A key repeated in the batch, or being asked already, is not asked.
        let asked: Vec<usize> = (0..keys.len()).filter(|&i| self.asking.insert(keys[i].to_string())).collect();
        let asking: Vec<String> = asked.iter().map(|&i| keys[i].to_string()).collect();
        let puts = asked.iter().map(|&i| {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(format!("{}{}", self.prefix, keys[i])))
                .item("status", AttributeValue::S("running".into()))
                .item("owner", AttributeValue::S(self.owner.clone()))
                .item(&self.ttl_attribute, AttributeValue::N((now + CLAIM_SECONDS).to_string()))
                // Free, or a running claim that expired (its runner crashed).
                .condition_expression("attribute_not_exists(pk) OR (#s = :running AND #t < :now)")
                .expression_attribute_names("#s", "status")
                .expression_attribute_names("#t", &self.ttl_attribute)
                .expression_attribute_values(":running", AttributeValue::S("running".into()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
        });
        let puts: Vec<_> = puts.collect();
        // The batch as a whole within CALL_WITHIN: at most CLAIMS_AT_ONCE run
        // at once, so a hanging table would otherwise cost CALL_WITHIN per 64.
        let all = stream::iter(puts).buffered(CLAIMS_AT_ONCE).collect::<Vec<_>>();
        // The timer is made on the AWS runtime (the shard thread has none).
        let task = self.aws.handle().spawn(async move { tokio::time::timeout(CALL_WITHIN, all).await });
        let count = keys.len();
        PendingClaims::new(move || {
            let answers = self.aws.handle().block_on(task);
            for key in &asking {
                self.asking.remove(key);
            }
            self.read_claims(count, &asked, answers)
        })
    }

    fn complete(&self, key: &str) {
        self.complete_many(&[key]);
    }

    fn complete_many(&self, keys: &[&str]) {
        let expires = (Self::now() + self.ttl.as_secs()).to_string();
        let puts = keys.iter().map(|k| {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(format!("{}{k}", self.prefix)))
                .item("status", AttributeValue::S("done".into()))
                .item(&self.ttl_attribute, AttributeValue::N(expires.clone()))
                .send()
        });
        let results = self.aws.handle().block_on(futures_util::future::join_all(puts));
        for r in results {
            if let Err(e) = r {
                tracing::warn!(table = %self.table, cause = %describe(DYNAMODB, &e).1, "marking a key complete failed");
            }
        }
    }

    /// A conditional delete per key, all sent at once and given
    /// [`RELEASE_WITHIN`] in all: only an item still `running` under this
    /// store's own claim goes. A completed key, a claim another process took
    /// over after ours lapsed, or a key never claimed refuses by its
    /// condition, silently. Whatever is not given back in time lapses after
    /// [`CLAIM_SECONDS`], as after a crash.
    fn release_many(&self, keys: &[&str]) {
        if keys.is_empty() {
            return;
        }
        let deletes = keys.iter().map(|k| {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(format!("{}{k}", self.prefix)))
                .condition_expression("#s = :running AND #o = :owner")
                .expression_attribute_names("#s", "status")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_values(":running", AttributeValue::S("running".into()))
                .expression_attribute_values(":owner", AttributeValue::S(self.owner.clone()))
                .send()
        });
        let all = stream::iter(deletes).buffer_unordered(CLAIMS_AT_ONCE).collect::<Vec<_>>();
        let Ok(answers) = self.aws.handle().block_on(async { tokio::time::timeout(RELEASE_WITHIN, all).await }) else {
            tracing::warn!(
                table = %self.table,
                keys = keys.len(),
                "giving dedup claims back timed out; those left lapse after {CLAIM_SECONDS}s"
            );
            return;
        };
        let (mut released, mut failed, mut first_cause) = (0, 0, None);
        for answer in answers {
            match answer {
                Ok(_) => released += 1,
                Err(e) if matches!(e.as_service_error(), Some(DeleteItemError::ConditionalCheckFailedException(_))) => {
                }
                Err(e) => {
                    failed += 1;
                    first_cause.get_or_insert_with(|| describe(DYNAMODB, &e).1);
                }
            }
        }
        // One line for the lot: a shutdown may give back thousands.
        if let Some(cause) = first_cause {
            tracing::warn!(table = %self.table, failed, %cause, "giving dedup claims back failed; those lapse after {CLAIM_SECONDS}s");
        }
        tracing::debug!(table = %self.table, asked = keys.len(), released, "dedup claims given back");
    }
}
