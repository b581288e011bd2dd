//! A table at one metadata file, and the commits that make the next one: each writes its new
//! manifests, manifest list and metadata file (never over a file that exists) and returns the
//! table at the new metadata file, which the caller then makes current in its catalog.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::io::Io;
use crate::manifest::{self, Content, DataFile, FieldSummary, ManifestEntry, ManifestFile, Status};
use crate::metadata::{MetadataLogEntry, Snapshot, TableMetadata, now_ms};
use crate::partition::PartitionSpec;
use crate::schema::{Primitive, Schema};
use crate::values::Literal;
use crate::{Result, invalid};

#[derive(Debug, Clone)]
pub struct Table {
    pub io: Io,
    pub metadata_location: String,
    pub metadata: TableMetadata,
}

/// A file a scan reads, with the data sequence number deletes are matched by.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanFile {
    pub file: DataFile,
    pub sequence_number: i64,
    pub spec_id: i32,
}

/// What a snapshot holds: its data files and the delete files that apply to them.
#[derive(Debug, Clone, Default)]
pub struct ScanFiles {
    pub data: Vec<ScanFile>,
    pub deletes: Vec<ScanFile>,
}

/// The version number a metadata file's name starts with (`00003-<uuid>.metadata.json`).
fn version_of(location: &str) -> Option<u64> {
    let name = location.rsplit('/').next()?;
    name.split('-').next()?.parse().ok()
}

fn compare(a: &Literal, b: &Literal) -> Option<Ordering> {
    use Literal::*;
    match (a, b) {
        (Boolean(x), Boolean(y)) => x.partial_cmp(y),
        (Int(x), Int(y)) | (Date(x), Date(y)) => x.partial_cmp(y),
        (Long(x), Long(y)) | (Time(x), Time(y)) | (Timestamp(x), Timestamp(y)) | (TimestampTz(x), TimestampTz(y)) => x.partial_cmp(y),
        (Float(x), Float(y)) => x.partial_cmp(y),
        (Double(x), Double(y)) => x.partial_cmp(y),
        (Decimal(x), Decimal(y)) => x.partial_cmp(y),
        (String(x), String(y)) => x.partial_cmp(y),
        (Binary(x), Binary(y)) | (Fixed(x), Fixed(y)) => x.partial_cmp(y),
        _ => None,
    }
}

/// Each partition field's summary over some files (for manifest lists).
fn summarize(files: &[&DataFile], fields: usize) -> Vec<FieldSummary> {
    (0..fields)
        .map(|i| {
            let mut lower: Option<&Literal> = None;
            let mut upper: Option<&Literal> = None;
            let mut contains_null = false;
            let mut contains_nan = false;
            for f in files {
                match f.partition.get(i).and_then(Option::as_ref) {
                    None => contains_null = true,
                    Some(Literal::Double(x)) if x.is_nan() => contains_nan = true,
                    Some(Literal::Float(x)) if x.is_nan() => contains_nan = true,
                    Some(v) => {
                        if lower.is_none_or(|l| compare(v, l) == Some(Ordering::Less)) {
                            lower = Some(v);
                        }
                        if upper.is_none_or(|u| compare(v, u) == Some(Ordering::Greater)) {
                            upper = Some(v);
                        }
                    }
                }
            }
            FieldSummary {
                contains_null,
                contains_nan: Some(contains_nan),
                lower_bound: lower.map(Literal::to_bytes),
                upper_bound: upper.map(Literal::to_bytes),
            }
        })
        .collect()
}

fn count(summary: &BTreeMap<String, String>, key: &str) -> i64 {
    summary.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl Table {
    pub async fn load(io: Io, metadata_location: &str) -> Result<Table> {
        let bytes = io.read(metadata_location).await?;
        Ok(Table { io, metadata_location: metadata_location.to_string(), metadata: TableMetadata::parse(&bytes)? })
    }

    /// Writes the first metadata file of a new table (no snapshot).
    pub async fn create(io: Io, location: &str, schema: Schema, spec: PartitionSpec, properties: BTreeMap<String, String>) -> Result<Table> {
        let metadata = TableMetadata::new(location, schema, spec, properties);
        let metadata_location = format!("{}/metadata/00000-{}.metadata.json", metadata.location, uuid::Uuid::new_v4());
        io.write_new(&metadata_location, metadata.to_json()).await?;
        Ok(Table { io, metadata_location, metadata })
    }

    /// Where new data files go: `write.data.path`, else the table's `data/` folder.
    pub fn data_location(&self) -> String {
        match self.metadata.properties.get("write.data.path") {
            Some(p) => p.trim_end_matches('/').to_string(),
            None => format!("{}/data", self.metadata.location),
        }
    }

    /// The manifests of a snapshot.
    pub async fn manifests(&self, snapshot: &Snapshot) -> Result<Vec<ManifestFile>> {
        manifest::read_manifest_list(&self.io.read(&snapshot.manifest_list).await?)
    }

    /// The live files of a snapshot (none for a table without one).
    pub async fn files(&self, snapshot: Option<&Snapshot>) -> Result<ScanFiles> {
        let mut out = ScanFiles::default();
        let Some(snapshot) = snapshot else { return Ok(out) };
        for m in self.manifests(snapshot).await? {
            let spec = self.metadata.spec(m.partition_spec_id)?;
            let schema = self.metadata.current_schema()?;
            let partition = spec.partition_type(schema)?;
            for e in manifest::read_manifest(&self.io.read(&m.manifest_path).await?, &partition)? {
                if e.status == Status::Deleted {
                    continue;
                }
                // Added entries without a sequence number inherit the manifest's.
                let sequence_number = e.sequence_number.unwrap_or(m.sequence_number);
                let file = ScanFile { file: e.data_file, sequence_number, spec_id: m.partition_spec_id };
                match file.file.content {
                    Content::Data => out.data.push(file),
                    _ => out.deletes.push(file),
                }
            }
        }
        Ok(out)
    }

    /// Every file the table's metadata reaches: its metadata files (this one and those logged),
    /// and each snapshot's manifest list, manifests, data and delete files.
    pub async fn reachable_files(&self) -> Result<std::collections::BTreeSet<String>> {
        let mut out = std::collections::BTreeSet::new();
        out.insert(self.metadata_location.clone());
        out.extend(self.metadata.metadata_log.iter().map(|e| e.metadata_file.clone()));
        for snapshot in &self.metadata.snapshots {
            out.insert(snapshot.manifest_list.clone());
            for m in self.manifests(snapshot).await? {
                let spec = self.metadata.spec(m.partition_spec_id)?;
                let partition = spec.partition_type(self.metadata.current_schema()?)?;
                for e in manifest::read_manifest(&self.io.read(&m.manifest_path).await?, &partition)? {
                    out.insert(e.data_file.file_path);
                }
                out.insert(m.manifest_path);
            }
        }
        Ok(out)
    }

    /// Files in the table's data and metadata folders that its metadata does not reach (what
    /// failed or abandoned writes left), last changed at `older_than_ms` or before: files of a
    /// write still under way are younger and kept. Only those two folders are looked in, so that
    /// a table located inside another's location never loses the other's files.
    pub async fn orphan_files(&self, older_than_ms: i64) -> Result<Vec<String>> {
        let reachable = self.reachable_files().await?;
        let mut out = Vec::new();
        for folder in [self.data_location(), format!("{}/metadata", self.metadata.location.trim_end_matches('/'))] {
            for (url, at) in self.io.list(&format!("{folder}/")).await? {
                if at <= older_than_ms && !reachable.contains(&url) {
                    out.push(url);
                }
            }
        }
        Ok(out)
    }

    /// Deletes every file the table's metadata reaches (DROP TABLE of an Iceberg table); files
    /// already gone are no error.
    pub async fn purge(&self) -> Result<usize> {
        let files = self.reachable_files().await?;
        for f in &files {
            self.io.delete(f).await?;
        }
        Ok(files.len())
    }

    /// Commits new data files as an `append` snapshot on the main branch.
    pub async fn append(&self, files: Vec<DataFile>) -> Result<Table> {
        self.row_delta(files, Vec::new()).await
    }

    /// Writes one manifest of added files (data or deletes) for a new snapshot.
    async fn added_manifest(&self, files: &[DataFile], snapshot_id: i64, sequence_number: i64, deletes: bool) -> Result<ManifestFile> {
        let m = &self.metadata;
        let spec = m.default_spec()?;
        let schema = m.current_schema()?;
        let partition = spec.partition_type(schema)?;
        let entries: Vec<ManifestEntry> = files
            .iter()
            .map(|f| ManifestEntry {
                status: Status::Added,
                snapshot_id: Some(snapshot_id),
                sequence_number: Some(sequence_number),
                file_sequence_number: Some(sequence_number),
                data_file: f.clone(),
            })
            .collect();
        let bytes = manifest::write_manifest(&entries, schema, spec, &partition, if deletes { "deletes" } else { "data" })?;
        let manifest_path = format!("{}/metadata/{}-m{}.avro", m.location, uuid::Uuid::new_v4(), u8::from(deletes));
        let manifest_length = self.io.write_new(&manifest_path, bytes).await? as i64;
        let refs: Vec<&DataFile> = files.iter().collect();
        Ok(ManifestFile {
            manifest_path,
            manifest_length,
            partition_spec_id: spec.spec_id,
            content: i32::from(deletes),
            sequence_number,
            min_sequence_number: sequence_number,
            added_snapshot_id: snapshot_id,
            added_files_count: files.len() as i32,
            existing_files_count: 0,
            deleted_files_count: 0,
            added_rows_count: files.iter().map(|f| f.record_count).sum(),
            existing_rows_count: 0,
            deleted_rows_count: 0,
            partitions: Some(summarize(&refs, partition.len())),
        })
    }

    /// Commits new data files and delete files (position or equality deletes) as one snapshot on
    /// the main branch: `append` (data only), `delete` (deletes only) or `overwrite` (both), as
    /// Iceberg's row-level changes are committed.
    pub async fn row_delta(&self, files: Vec<DataFile>, deletes: Vec<DataFile>) -> Result<Table> {
        let m = &self.metadata;
        let snapshot_id = m.new_snapshot_id();
        let sequence_number = m.last_sequence_number + 1;
        let spec = m.default_spec()?;
        let schema = m.current_schema()?;
        let partition = spec.partition_type(schema)?;
        if files.iter().chain(&deletes).any(|f| f.partition.len() != partition.len()) {
            return Err(invalid("a file's partition tuple does not match the partition spec"));
        }
        if files.iter().any(|f| f.content != Content::Data) || deletes.iter().any(|f| f.content == Content::Data) {
            return Err(invalid("data files and delete files were mixed up"));
        }
        let parent = m.current_snapshot();
        let mut manifests = match parent {
            Some(p) => self.manifests(p).await?,
            None => Vec::new(),
        };
        if !deletes.is_empty() {
            manifests.insert(0, self.added_manifest(&deletes, snapshot_id, sequence_number, true).await?);
        }
        if !files.is_empty() {
            manifests.insert(0, self.added_manifest(&files, snapshot_id, sequence_number, false).await?);
        }

        let before = parent.map(|p| p.summary.clone()).unwrap_or_default();
        let added_records: i64 = files.iter().map(|f| f.record_count).sum();
        let added_size: i64 = files.iter().map(|f| f.file_size_in_bytes).sum();
        let position_deletes: i64 = deletes.iter().filter(|f| f.content == Content::PositionDeletes).map(|f| f.record_count).sum();
        let equality_deletes: i64 = deletes.iter().filter(|f| f.content == Content::EqualityDeletes).map(|f| f.record_count).sum();
        let deletes_size: i64 = deletes.iter().map(|f| f.file_size_in_bytes).sum();
        let operation = match (files.is_empty(), deletes.is_empty()) {
            (_, true) => "append",
            (true, false) => "delete",
            (false, false) => "overwrite",
        };
        let mut summary = BTreeMap::new();
        summary.insert("operation".to_string(), operation.to_string());
        summary.insert("added-data-files".into(), files.len().to_string());
        summary.insert("added-records".into(), added_records.to_string());
        summary.insert("added-files-size".into(), (added_size + deletes_size).to_string());
        if !deletes.is_empty() {
            summary.insert("added-delete-files".into(), deletes.len().to_string());
            summary.insert("added-position-deletes".into(), position_deletes.to_string());
            summary
                .insert("added-position-delete-files".into(), deletes.iter().filter(|f| f.content == Content::PositionDeletes).count().to_string());
        }
        summary.insert("changed-partition-count".into(), {
            let distinct: std::collections::BTreeSet<String> = files.iter().chain(&deletes).map(|f| spec.path(&f.partition)).collect();
            distinct.len().to_string()
        });
        summary.insert("total-records".into(), (count(&before, "total-records") + added_records).to_string());
        summary.insert("total-files-size".into(), (count(&before, "total-files-size") + added_size + deletes_size).to_string());
        summary.insert("total-data-files".into(), (count(&before, "total-data-files") + files.len() as i64).to_string());
        summary.insert("total-delete-files".into(), (count(&before, "total-delete-files") + deletes.len() as i64).to_string());
        summary.insert("total-position-deletes".into(), (count(&before, "total-position-deletes") + position_deletes).to_string());
        summary.insert("total-equality-deletes".into(), (count(&before, "total-equality-deletes") + equality_deletes).to_string());
        self.commit_snapshot(&manifests, snapshot_id, parent.map(|p| p.snapshot_id), sequence_number, summary).await
    }

    /// Writes a new snapshot's manifest list and commits the snapshot on the main branch.
    async fn commit_snapshot(
        &self,
        manifests: &[ManifestFile],
        snapshot_id: i64,
        parent: Option<i64>,
        sequence_number: i64,
        summary: BTreeMap<String, String>,
    ) -> Result<Table> {
        let m = &self.metadata;
        let list = manifest::write_manifest_list(manifests, snapshot_id, parent, sequence_number)?;
        let manifest_list = format!("{}/metadata/snap-{snapshot_id}-1-{}.avro", m.location, uuid::Uuid::new_v4());
        self.io.write_new(&manifest_list, list).await?;
        let snapshot = Snapshot {
            snapshot_id,
            parent_snapshot_id: parent,
            sequence_number,
            timestamp_ms: now_ms().max(m.last_updated_ms),
            manifest_list,
            summary,
            schema_id: Some(m.current_schema()?.schema_id),
        };
        self.commit_metadata(|next| next.add_snapshot(snapshot)).await
    }

    /// Replaces files (OPTIMIZE's compaction): a `replace` snapshot in which the data files
    /// `removed` and the delete files `removed_deletes` are no longer live and `added` are. Manifests
    /// that hold none of them are kept as they are; the others are written again with what stays
    /// (as existing entries, sequence numbers kept).
    pub async fn rewrite(
        &self,
        removed: &std::collections::BTreeSet<String>,
        removed_deletes: &std::collections::BTreeSet<String>,
        added: Vec<DataFile>,
    ) -> Result<Table> {
        let m = &self.metadata;
        let parent = m.current_snapshot().ok_or_else(|| invalid("a table without a snapshot has nothing to rewrite"))?;
        let snapshot_id = m.new_snapshot_id();
        let sequence_number = m.last_sequence_number + 1;
        let schema = m.current_schema()?;
        let mut manifests = Vec::new();
        let (mut deleted_files, mut deleted_records, mut removed_delete_files) = (0i64, 0i64, 0i64);
        for mf in self.manifests(parent).await? {
            let spec = m.spec(mf.partition_spec_id)?;
            let partition = spec.partition_type(schema)?;
            let entries = manifest::read_manifest(&self.io.read(&mf.manifest_path).await?, &partition)?;
            let gone = |e: &ManifestEntry| match e.data_file.content {
                Content::Data => removed.contains(&e.data_file.file_path),
                _ => removed_deletes.contains(&e.data_file.file_path),
            };
            if !entries.iter().any(|e| e.status != Status::Deleted && gone(e)) {
                manifests.push(mf);
                continue;
            }
            let mut kept = Vec::new();
            for mut e in entries.into_iter().filter(|e| e.status != Status::Deleted) {
                if gone(&e) {
                    if e.data_file.content == Content::Data {
                        deleted_files += 1;
                        deleted_records += e.data_file.record_count;
                    } else {
                        removed_delete_files += 1;
                    }
                    continue;
                }
                e.status = Status::Existing;
                e.sequence_number = Some(e.sequence_number.unwrap_or(mf.sequence_number));
                e.file_sequence_number = Some(e.file_sequence_number.unwrap_or(mf.sequence_number));
                kept.push(e);
            }
            if kept.is_empty() {
                continue;
            }
            let deletes = mf.content == 1;
            let bytes = manifest::write_manifest(&kept, schema, spec, &partition, if deletes { "deletes" } else { "data" })?;
            let manifest_path = format!("{}/metadata/{}-m{}.avro", m.location, uuid::Uuid::new_v4(), u8::from(deletes));
            let manifest_length = self.io.write_new(&manifest_path, bytes).await? as i64;
            let refs: Vec<&DataFile> = kept.iter().map(|e| &e.data_file).collect();
            manifests.push(ManifestFile {
                manifest_path,
                manifest_length,
                partition_spec_id: mf.partition_spec_id,
                content: mf.content,
                sequence_number,
                min_sequence_number: kept.iter().filter_map(|e| e.sequence_number).min().unwrap_or(sequence_number),
                added_snapshot_id: snapshot_id,
                added_files_count: 0,
                existing_files_count: kept.len() as i32,
                deleted_files_count: 0,
                added_rows_count: 0,
                existing_rows_count: kept.iter().map(|e| e.data_file.record_count).sum(),
                deleted_rows_count: 0,
                partitions: Some(summarize(&refs, partition.len())),
            });
        }
        if !added.is_empty() {
            manifests.insert(0, self.added_manifest(&added, snapshot_id, sequence_number, false).await?);
        }
        let before = &parent.summary;
        let added_records: i64 = added.iter().map(|f| f.record_count).sum();
        let mut summary = BTreeMap::new();
        summary.insert("operation".to_string(), "replace".to_string());
        summary.insert("added-data-files".into(), added.len().to_string());
        summary.insert("added-records".into(), added_records.to_string());
        summary.insert("deleted-data-files".into(), deleted_files.to_string());
        summary.insert("deleted-records".into(), deleted_records.to_string());
        summary.insert("removed-delete-files".into(), removed_delete_files.to_string());
        summary.insert("total-records".into(), (count(before, "total-records") + added_records - deleted_records).to_string());
        summary.insert("total-data-files".into(), (count(before, "total-data-files") + added.len() as i64 - deleted_files).to_string());
        summary.insert("total-delete-files".into(), (count(before, "total-delete-files") - removed_delete_files).max(0).to_string());
        self.commit_snapshot(&manifests, snapshot_id, Some(parent.snapshot_id), sequence_number, summary).await
    }

    /// Expires snapshots committed before `older_than_ms`, keeping the newest `keep` (at least
    /// the current one) and those a branch or tag names. Returns the table at its new metadata
    /// file and the files only the expired snapshots reached, for the caller to delete once the
    /// new metadata is current.
    pub async fn expire_snapshots(&self, older_than_ms: i64, keep: usize) -> Result<(Table, Vec<String>)> {
        let m = &self.metadata;
        let mut newest: Vec<&Snapshot> = m.snapshots.iter().collect();
        newest.sort_by_key(|s| std::cmp::Reverse((s.timestamp_ms, s.sequence_number)));
        let referenced: std::collections::BTreeSet<i64> = m.refs.values().map(|r| r.snapshot_id).chain(m.current_snapshot_id).collect();
        let kept: std::collections::BTreeSet<i64> = newest
            .iter()
            .enumerate()
            .filter(|(i, s)| *i < keep.max(1) || s.timestamp_ms >= older_than_ms || referenced.contains(&s.snapshot_id))
            .map(|(_, s)| s.snapshot_id)
            .collect();
        if kept.len() == m.snapshots.len() {
            return Ok((self.clone(), Vec::new()));
        }
        let before = self.reachable_files().await?;
        let next = self
            .commit_metadata(|next| {
                next.snapshots.retain(|s| kept.contains(&s.snapshot_id));
                next.snapshot_log.retain(|e| kept.contains(&e.snapshot_id));
                for s in &mut next.snapshots {
                    if s.parent_snapshot_id.is_some_and(|p| !kept.contains(&p)) {
                        s.parent_snapshot_id = None;
                    }
                }
            })
            .await?;
        let after = next.reachable_files().await?;
        Ok((next, before.difference(&after).cloned().collect()))
    }

    /// Writes the next metadata file: this one changed by `change`, with this file in its log.
    pub async fn commit_metadata(&self, change: impl FnOnce(&mut TableMetadata)) -> Result<Table> {
        let mut next = self.metadata.clone();
        next.metadata_log.push(MetadataLogEntry { timestamp_ms: self.metadata.last_updated_ms, metadata_file: self.metadata_location.clone() });
        change(&mut next);
        next.last_updated_ms = next.last_updated_ms.max(now_ms());
        let version = version_of(&self.metadata_location).map(|v| v + 1).unwrap_or(1);
        let metadata_location = format!("{}/metadata/{version:05}-{}.metadata.json", next.location, uuid::Uuid::new_v4());
        self.io.write_new(&metadata_location, next.to_json()).await?;
        Ok(Table { io: self.io.clone(), metadata_location, metadata: next })
    }
}

/// The partition type of a table's default spec, for callers that build partition tuples.
pub fn partition_type(metadata: &TableMetadata) -> Result<Vec<(i32, String, Primitive)>> {
    metadata.default_spec()?.partition_type(metadata.current_schema()?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::ObjectStore;
    use object_store::memory::InMemory;

    use super::*;
    use crate::partition::Transform;

    fn io() -> Io {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        Io::new(Arc::new(move |_| Ok(store.clone())))
    }

    #[tokio::test]
    async fn create_append_and_list() {
        let schema = Schema::from_json(&serde_json::json!({"type": "struct", "schema-id": 0, "fields": [
            {"id": 1, "name": "id", "required": false, "type": "long"},
            {"id": 2, "name": "kind", "required": false, "type": "string"},
        ]}))
        .unwrap();
        let spec = PartitionSpec::from_terms(&[(Transform::Identity, "kind".into())], &schema).unwrap();
        let t = Table::create(io(), "s3://lake/t/", schema, spec, BTreeMap::new()).await.unwrap();
        assert!(t.metadata_location.starts_with("s3://lake/t/metadata/00000-"));
        assert!(t.files(t.metadata.current_snapshot()).await.unwrap().data.is_empty());
        let a = DataFile::parquet("s3://lake/t/data/kind=a/1.parquet".into(), vec![Some(Literal::String("a".into()))], 3, 100);
        let t1 = t.append(vec![a.clone()]).await.unwrap();
        let b = DataFile::parquet("s3://lake/t/data/kind=b/2.parquet".into(), vec![None], 2, 50);
        let t2 = t1.append(vec![b.clone()]).await.unwrap();
        assert!(t2.metadata_location.contains("/metadata/00002-"), "{}", t2.metadata_location);
        let files = t2.files(t2.metadata.current_snapshot()).await.unwrap();
        let paths: Vec<&str> = files.data.iter().map(|f| f.file.file_path.as_str()).collect();
        assert_eq!(paths, ["s3://lake/t/data/kind=b/2.parquet", "s3://lake/t/data/kind=a/1.parquet"]);
        assert_eq!(files.data.iter().map(|f| f.sequence_number).collect::<Vec<_>>(), [2, 1]);
        let current = t2.metadata.current_snapshot().unwrap();
        assert_eq!(current.summary["total-records"], "5");
        assert_eq!(current.parent_snapshot_id, t1.metadata.current_snapshot_id);
        assert_eq!(t2.metadata.metadata_log.len(), 2);
        // The first snapshot is still there to read.
        let first = t2.metadata.snapshot(t1.metadata.current_snapshot_id.unwrap()).unwrap();
        assert_eq!(t2.files(Some(first)).await.unwrap().data.len(), 1);
        // Reloaded from its file, the table is the same.
        let again = Table::load(t2.io.clone(), &t2.metadata_location).await.unwrap();
        assert_eq!(again.metadata, t2.metadata);
        // Purged: three metadata files, two manifest lists, two manifests (the first one listed
        // by both snapshots is one file), two data files that were never written here.
        assert_eq!(t2.reachable_files().await.unwrap().len(), 3 + 2 + 2 + 2);
        t2.purge().await.unwrap();
        assert!(Table::load(t2.io.clone(), &t2.metadata_location).await.is_err());
    }
}
