//! From files with inferred schemas to tables and partitions, the way Glue's crawler groups them
//! ("How does a crawler determine when to create partitions?" and "Creating a single schema for
//! each Amazon S3 include path" in Glue's guide). Tables are as high in the folder tree as they
//! can be: starting at the include path, a folder whose files sit at one depth and whose schemas
//! are similar is one table, and every folder level below it is a partition key (`key=value`
//! names give the key, other levels become `partition_0`, `partition_1`, …), even a level with a
//! single folder. A folder whose files differ is not a table: each of its subfolders decides for
//! itself, and files directly in it become tables of their own.

use std::collections::BTreeMap;

use super::infer::{CsvLayout, CustomLayout, FileSchema, Ty};

/// One file the crawler read (or remembered), by its path below the crawl's include path.
#[derive(Debug, Clone)]
pub struct Crawled {
    /// Folder names from the include path down to the file's folder.
    pub dirs: Vec<String>,
    pub name: String,
    pub schema: FileSchema,
}

/// How folders are grouped into tables (the crawler's `Configuration.Grouping`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Grouping {
    /// Merge any folders whose schemas do not conflict, however different their columns.
    pub combine_compatible: bool,
    /// Tables are rooted this many folders below the include path (from Glue's absolute
    /// `TableLevelConfiguration`, less the include path's own level).
    pub table_depth: Option<usize>,
}

/// A table the crawl found.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTable {
    /// Folder names from the include path to the table's root folder.
    pub root: Vec<String>,
    /// The name (before any table prefix): the root folder's, or the file's for a lone file.
    pub name: String,
    pub classification: String,
    pub columns: Vec<(String, Ty)>,
    pub partition_keys: Vec<String>,
    pub csv: Option<CsvLayout>,
    pub custom: Option<CustomLayout>,
    pub compression: &'static str,
    pub partitions: Vec<PlannedPartition>,
    pub records: u64,
    pub objects: u64,
    pub size: u64,
    /// A single file rather than a folder.
    pub file: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPartition {
    pub values: Vec<String>,
    /// Folder names from the table's root to the partition's folder.
    pub dirs: Vec<String>,
    pub columns: Vec<(String, Ty)>,
    pub records: u64,
    pub objects: u64,
    pub size: u64,
}

/// Whether two file schemas can live in one table: the same format (and CSV layout), no column
/// whose types conflict, and, unless compatible schemas are combined whatever their columns,
/// similar columns: one schema's columns all in the other (a schema that grew), or most of them
/// shared (Glue's 70% similarity).
fn compatible(a: &FileSchema, b: &FileSchema, combine: bool) -> bool {
    if a.classification != b.classification || a.custom != b.custom {
        return false;
    }
    if let (Some(x), Some(y)) = (&a.csv, &b.csv)
        && (x.delimiter != y.delimiter || x.header != y.header)
    {
        return false;
    }
    // Columns with the same name must not conflict (Glue widens numbers, nothing else).
    for (name, t) in &a.columns {
        if let Some((_, u)) = b.columns.iter().find(|(n, _)| n == name)
            && t.clone().merge(u.clone()) == Ty::String
            && !matches!((t, u), (Ty::String, _) | (_, Ty::String) | (Ty::Unknown, _) | (_, Ty::Unknown))
        {
            return false;
        }
    }
    if combine {
        return true;
    }
    let names_a: std::collections::HashSet<&String> = a.columns.iter().map(|c| &c.0).collect();
    let names_b: std::collections::HashSet<&String> = b.columns.iter().map(|c| &c.0).collect();
    if names_a.is_subset(&names_b) || names_b.is_subset(&names_a) {
        return true;
    }
    let shared = names_a.intersection(&names_b).count();
    let all = names_a.union(&names_b).count().max(1);
    shared * 10 >= all * 7
}

fn merge_columns(into: &mut Vec<(String, Ty)>, more: &[(String, Ty)]) {
    for (name, t) in more {
        match into.iter_mut().find(|(n, _)| n == name) {
            Some((_, existing)) => *existing = std::mem::replace(existing, Ty::Unknown).merge(t.clone()),
            None => into.push((name.clone(), t.clone())),
        }
    }
}

/// Lowercase letters, digits and `_`: what Athena accepts unquoted.
pub fn sanitize(name: &str) -> String {
    let mut out: String = name.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

fn all_compatible(files: &[&Crawled], combine: bool) -> bool {
    let Some(first) = files.first() else { return true };
    let mut merged = first.schema.clone();
    for f in &files[1..] {
        if !compatible(&merged, &f.schema, combine) {
            return false;
        }
        merge_columns(&mut merged.columns, &f.schema.columns);
    }
    true
}

/// Builds a table rooted at `root` from files all at the same depth below it.
fn table_at(root: &[String], name: String, files: &[&Crawled]) -> PlannedTable {
    let levels = files.first().map(|f| f.dirs.len() - root.len()).unwrap_or(0);
    let first = &files[0].schema;
    let mut columns = Vec::new();
    for f in files {
        merge_columns(&mut columns, &f.schema.columns);
    }
    // Partition key names: `key` if every folder at the level is `key=value`, else partition_N.
    let mut keys = Vec::new();
    for level in 0..levels {
        let mut key: Option<String> = None;
        let mut same = true;
        for f in files {
            let dir = &f.dirs[root.len() + level];
            match dir.split_once('=') {
                Some((k, _)) if !k.is_empty() => match &key {
                    None => key = Some(k.to_string()),
                    Some(existing) if existing == k => {}
                    Some(_) => same = false,
                },
                _ => same = false,
            }
        }
        let name = match key {
            Some(k) if same => sanitize(&k),
            _ => format!("partition_{level}"),
        };
        // A partition key may not repeat a column's name.
        let name = if columns.iter().any(|(c, _)| *c == name) || keys.contains(&name) { format!("{name}_{level}") } else { name };
        keys.push(name);
    }
    let mut partitions: BTreeMap<Vec<String>, PlannedPartition> = BTreeMap::new();
    if levels > 0 {
        for f in files {
            let dirs = f.dirs[root.len()..].to_vec();
            let values: Vec<String> = dirs
                .iter()
                .zip(&keys)
                .map(|(d, k)| if k.starts_with("partition_") { d.clone() } else { d.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default() })
                .collect();
            let p = partitions.entry(dirs.clone()).or_insert_with(|| PlannedPartition {
                values,
                dirs,
                columns: Vec::new(),
                records: 0,
                objects: 0,
                size: 0,
            });
            merge_columns(&mut p.columns, &f.schema.columns);
            p.records += f.schema.records;
            p.objects += 1;
            p.size += f.schema.size;
        }
    }
    let compression = files.iter().map(|f| f.schema.compression).find(|c| *c != super::infer::Compression::None).unwrap_or(first.compression).name();
    PlannedTable {
        root: root.to_vec(),
        name,
        classification: first.classification.clone(),
        columns,
        partition_keys: keys,
        csv: first.csv.clone(),
        custom: first.custom.clone(),
        compression,
        partitions: partitions.into_values().collect(),
        records: files.iter().map(|f| f.schema.records).sum(),
        objects: files.len() as u64,
        size: files.iter().map(|f| f.schema.size).sum(),
        file: None,
    }
}

/// Groups crawled files into tables. `include_name` names a table rooted at the include path.
pub fn plan(files: &[Crawled], include_name: &str, grouping: Grouping) -> Vec<PlannedTable> {
    let all: Vec<&Crawled> = files.iter().collect();
    let mut tables = Vec::new();
    match grouping.table_depth {
        Some(depth) => {
            // Tables at a fixed level: every folder at that depth is one table.
            let mut roots: BTreeMap<Vec<String>, Vec<&Crawled>> = BTreeMap::new();
            let mut loose = Vec::new();
            for f in &all {
                if f.dirs.len() >= depth {
                    roots.entry(f.dirs[..depth].to_vec()).or_default().push(*f);
                } else {
                    loose.push(*f);
                }
            }
            for (root, group) in roots {
                let name = root.last().cloned().unwrap_or_else(|| include_name.to_string());
                tables.extend(plan_folder(&root, &name, &group, grouping));
            }
            tables.extend(loose.into_iter().map(lone_file));
        }
        None => tables.extend(plan_folder(&[], include_name, &all, grouping)),
    }
    tables
}

/// One table for a lone file, named after it.
fn lone_file(f: &Crawled) -> PlannedTable {
    let stem = f.name.split('.').next().unwrap_or(&f.name).to_string();
    let mut t = table_at(&f.dirs, stem, &[f]);
    t.file = Some(f.name.clone());
    t
}

/// A folder: one table if its files agree and sit at one depth; else each subfolder decides
/// for itself, and files directly in the folder become tables of their own.
fn plan_folder(root: &[String], name: &str, files: &[&Crawled], grouping: Grouping) -> Vec<PlannedTable> {
    if files.is_empty() {
        return Vec::new();
    }
    let depth = files[0].dirs.len();
    let uniform = files.iter().all(|f| f.dirs.len() == depth);
    if uniform && all_compatible(files, grouping.combine_compatible) {
        return vec![table_at(root, name.to_string(), files)];
    }
    let mut out = Vec::new();
    let mut children: BTreeMap<String, Vec<&Crawled>> = BTreeMap::new();
    for f in files {
        if f.dirs.len() == root.len() {
            out.push(lone_file(f));
        } else {
            children.entry(f.dirs[root.len()].clone()).or_default().push(*f);
        }
    }
    for (child, group) in children {
        let mut sub = root.to_vec();
        sub.push(child.clone());
        out.extend(plan_folder(&sub, &child, &group, grouping));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::infer::Compression;
    use super::*;

    fn file(path: &str, columns: &[(&str, Ty)]) -> Crawled {
        let mut parts: Vec<String> = path.split('/').map(str::to_string).collect();
        let name = parts.pop().unwrap();
        Crawled {
            dirs: parts,
            name,
            schema: FileSchema {
                classification: "json".into(),
                compression: Compression::None,
                columns: columns.iter().map(|(n, t)| (n.to_string(), t.clone())).collect(),
                csv: None,
                custom: None,
                records: 10,
                size: 100,
            },
        }
    }

    fn summary(tables: &[PlannedTable]) -> Vec<(String, Vec<String>, Vec<String>, usize)> {
        tables
            .iter()
            .map(|t| (t.name.clone(), t.columns.iter().map(|c| c.0.clone()).collect(), t.partition_keys.clone(), t.partitions.len()))
            .collect()
    }

    #[test]
    fn hive_and_unnamed_partitions_and_separate_tables() {
        let ab = [("a", Ty::BigInt), ("b", Ty::String)];
        let files = vec![
            file("sales/year=2023/month=1/x.json", &ab),
            file("sales/year=2024/month=2/y.json", &[("a", Ty::Double), ("b", Ty::String)]),
            file("logs/2024/01/l.json", &[("msg", Ty::String)]),
            file("logs/2024/02/l.json", &[("msg", Ty::String)]),
        ];
        let tables = plan(&files, "lake", Grouping::default());
        assert_eq!(
            summary(&tables),
            [
                ("logs".to_string(), vec!["msg".to_string()], vec!["partition_0".to_string(), "partition_1".to_string()], 2),
                ("sales".to_string(), vec!["a".to_string(), "b".to_string()], vec!["year".to_string(), "month".to_string()], 2),
            ]
        );
        let sales = &tables[1];
        assert_eq!(sales.columns[0].1, Ty::Double, "bigint and double widen");
        assert_eq!(sales.partitions[0].values, ["2023", "1"]);
        assert_eq!(tables[0].partitions[1].values, ["2024", "02"]);
    }

    #[test]
    fn compatible_folders_are_partitions_of_one_table() {
        let files = vec![file("dt=1/a.json", &[("x", Ty::BigInt)]), file("dt=2/b.json", &[("x", Ty::BigInt)])];
        let tables = plan(&files, "t", Grouping::default());
        assert_eq!(summary(&tables), [("t".to_string(), vec!["x".to_string()], vec!["dt".to_string()], 2)]);
        // Dissimilar columns split, unless compatible schemas are combined.
        let files = vec![
            file("a/x.json", &[("p", Ty::BigInt), ("q", Ty::String)]),
            file("b/y.json", &[("r", Ty::BigInt), ("s", Ty::String), ("p", Ty::BigInt)]),
        ];
        assert_eq!(plan(&files, "root", Grouping::default()).len(), 2);
        let combined = plan(&files, "root", Grouping { combine_compatible: true, table_depth: None });
        assert_eq!(
            summary(&combined),
            [("root".to_string(), vec!["p".into(), "q".into(), "r".into(), "s".into()], vec!["partition_0".to_string()], 2)]
        );
        // A fixed table level makes a table of every folder at that depth.
        let files =
            vec![file("a/1/x.json", &[("p", Ty::BigInt)]), file("a/2/y.json", &[("p", Ty::BigInt)]), file("b/3/z.json", &[("p", Ty::BigInt)])];
        let fixed = plan(&files, "root", Grouping { combine_compatible: false, table_depth: Some(1) });
        assert_eq!(summary(&fixed).iter().map(|t| (t.0.clone(), t.3)).collect::<Vec<_>>(), [("a".to_string(), 2), ("b".to_string(), 1)]);
    }

    /// The examples of Glue's guide, and what follows from them for a level with one folder.
    #[test]
    fn table_roots_are_where_glue_puts_them() {
        let ab = [("a", Ty::BigInt), ("b", Ty::String)];
        // "Crawler target set at Sales": one table, partitions year, month and day, though the
        // first level has a single folder.
        let files: Vec<Crawled> = ["month=Jan/day=1", "month=Jan/day=2", "month=Feb/day=1", "month=Feb/day=2"]
            .iter()
            .map(|d| file(&format!("year=2019/{d}/f.json"), &ab))
            .collect();
        assert_eq!(
            summary(&plan(&files, "sales", Grouping::default())),
            [("sales".to_string(), vec!["a".to_string(), "b".to_string()], vec!["year".into(), "month".into(), "day".into()], 4)]
        );
        // Include path s3://bucket01/folder1/ over table1/partition1..3 and table2/partition4..5
        // with similar schemas: one table, two partition key columns.
        let files: Vec<Crawled> = ["table1/partition1", "table1/partition2", "table1/partition3", "table2/partition4", "table2/partition5"]
            .iter()
            .map(|d| file(&format!("{d}/file.txt"), &ab))
            .collect();
        let tables = plan(&files, "folder1", Grouping::default());
        assert_eq!(summary(&tables), [("folder1".to_string(), vec!["a".into(), "b".into()], vec!["partition_0".into(), "partition_1".into()], 5)]);
        assert_eq!(tables[0].partitions[4].values, ["table2", "partition5"]);
        // Include path s3://bucket/table1/ over year=2017 {A, B} and year=2018 {C, D}: two tables
        // named after the folders (the run sanitises them to year_2017, year_2018), unless
        // compatible schemas are combined into one table partitioned by year.
        let files = vec![
            file("year=2017/data1.json", &[("a", Ty::BigInt), ("b", Ty::BigInt)]),
            file("year=2018/data2.json", &[("c", Ty::BigInt), ("d", Ty::BigInt)]),
        ];
        let split = plan(&files, "table1", Grouping::default());
        assert_eq!(
            split.iter().map(|t| (t.name.as_str(), t.root.clone())).collect::<Vec<_>>(),
            [("year=2017", vec!["year=2017".to_string()]), ("year=2018", vec!["year=2018".to_string()])]
        );
        let combined = plan(&files, "table1", Grouping { combine_compatible: true, table_depth: None });
        assert_eq!(summary(&combined), [("table1".to_string(), vec!["a".into(), "b".into(), "c".into(), "d".into()], vec!["year".into()], 2)]);
        // A partition whose files grew a column is still a partition of the same table.
        let files = vec![
            file("month=1/a.json", &[("sku", Ty::String), ("qty", Ty::BigInt)]),
            file("month=2/a.json", &[("sku", Ty::String), ("qty", Ty::BigInt), ("price", Ty::Double)]),
        ];
        assert_eq!(plan(&files, "sales", Grouping::default()).len(), 1);
        // Tables are as high as they can be: beside dissimilar folders, a folder whose data all
        // sits in one subfolder is the table, and that subfolder is a partition value.
        let files = vec![
            file("hive/sales/year=2023/part.csv", &ab),
            file("hive/sales/year=2024/part.csv", &ab),
            file("logs/app/l.json", &[("msg", Ty::String)]),
        ];
        let tables = plan(&files, "corpus", Grouping::default());
        assert_eq!(
            summary(&tables),
            [
                ("hive".to_string(), vec!["a".into(), "b".into()], vec!["partition_0".into(), "year".into()], 2),
                ("logs".to_string(), vec!["msg".into()], vec!["partition_0".into()], 1),
            ]
        );
        assert_eq!(tables[0].partitions[0].values, ["sales", "2023"]);
        // The same holds at the include path: its name is the table's.
        let files = vec![file("orders/day=1/a.json", &ab), file("orders/day=2/a.json", &ab)];
        assert_eq!(summary(&plan(&files, "data", Grouping::default()))[0].2, ["partition_0", "day"]);
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize("Sales-2024.v1"), "sales_2024_v1");
    }
}
