//! The service models, embedded: `models/services.bin` holds every service
//! botocore describes, each minimised and deflated on its own behind a text
//! index, so a process inflates and parses only the services its state
//! machines name, once each.
//!
//! Built from botocore 1.44.8 (the version `deploy/dev/services.sh` pins
//! for the clients; Apache-2.0) by
//! `python3 deploy/dev/aws-models.py --botocore <site-packages>/botocore
//! --out connectors/aws-sdk/models/services.bin`: 440 services, 25.8 MB of
//! minimised JSON in 2.68 MB. Embedded rather than a data directory: one
//! file to ship, no path to configure, and the binary pays only its size
//! (about 3.2 MB stripped, with the code); the inflating is the same.

use crate::model::ServiceModel;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

static BUNDLE: &[u8] = include_bytes!("../models/services.bin");

struct Index {
    /// ARN service name → (offset, length) of its deflated model.
    entries: HashMap<String, (usize, usize)>,
    body: &'static [u8],
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| parse_index(BUNDLE).unwrap_or(Index { entries: HashMap::new(), body: &[] }))
}

fn parse_index(bundle: &'static [u8]) -> Option<Index> {
    let head_len = u32::from_le_bytes(bundle.get(..4)?.try_into().ok()?) as usize;
    let head = std::str::from_utf8(bundle.get(4..4 + head_len)?).ok()?;
    let mut entries = HashMap::new();
    for line in head.lines() {
        let mut parts = line.split('\t');
        let (name, offset, len) = (parts.next()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        entries.insert(name.to_string(), (offset, len));
    }
    Some(Index { entries, body: bundle.get(4 + head_len..)? })
}

/// Every ARN service name the bundle holds, sorted.
pub fn services() -> Vec<&'static str> {
    let mut names: Vec<&str> = index().entries.keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// The model of `service` (its ARN name: `s3`, `eventbridge`, `sfn`),
/// inflated and parsed on first use.
pub fn service(service: &str) -> Result<Arc<ServiceModel>, String> {
    static LOADED: OnceLock<Mutex<HashMap<String, Arc<ServiceModel>>>> = OnceLock::new();
    let loaded = LOADED.get_or_init(Default::default);
    if let Some(model) = loaded.lock().map_err(|_| "the model cache is poisoned".to_string())?.get(service) {
        return Ok(model.clone());
    }
    let index = index();
    let &(offset, len) =
        index.entries.get(service).ok_or_else(|| format!("no AWS SDK service is named '{service}'"))?;
    let deflated = index.body.get(offset..offset + len).ok_or("the model bundle is truncated")?;
    let json = miniz_oxide::inflate::decompress_to_vec_zlib(deflated)
        .map_err(|e| format!("inflating the '{service}' model: {e:?}"))?;
    let mut model: ServiceModel =
        serde_json::from_slice(&json).map_err(|e| format!("reading the '{service}' model: {e}"))?;
    model.index_operations();
    let model = Arc::new(model);
    loaded.lock().map_err(|_| "the model cache is poisoned".to_string())?.insert(service.to_string(), model.clone());
    Ok(model)
}
