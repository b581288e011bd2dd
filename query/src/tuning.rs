//! The engine's settings: DataFusion's defaults, the choices Minerva makes over them (each one
//! measured in bench/README.md), and what whoever runs the server sets through DataFusion's own
//! environment variables, a setting's name in capitals with `_` for `.`
//! (`DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS=true`). They are read once, when the first
//! query is planned; a variable DataFusion does not know or a value it rejects is logged and left
//! out.
//!
//! Every session starts from these options, and every Parquet scan (Hive and Iceberg tables)
//! reads with their `execution.parquet` part: a table built outside a session would otherwise
//! read with DataFusion's defaults whatever the session said.

use std::sync::OnceLock;

use datafusion::common::config::{ConfigOptions, TableParquetOptions};
use datafusion::datasource::file_format::parquet::ParquetFormat;

/// The options every session starts from.
pub(crate) fn options() -> &'static ConfigOptions {
    static OPTIONS: OnceLock<ConfigOptions> = OnceLock::new();
    OPTIONS.get_or_init(|| configured(std::env::vars()))
}

/// The format of Parquet tables, reading with the engine's Parquet settings.
pub(crate) fn parquet_format() -> ParquetFormat {
    ParquetFormat::default().with_options(TableParquetOptions { global: options().execution.parquet.clone(), ..Default::default() })
}

/// Minerva's defaults, then every `DATAFUSION_*` variable of `vars` that names a setting.
fn configured(vars: impl Iterator<Item = (String, String)>) -> ConfigOptions {
    let mut options = ConfigOptions::default();
    // Files of a megabyte or more are read in byte ranges, one per core, not whole.
    options.optimizer.repartition_file_min_size = 1 << 20;
    let keys: Vec<String> = options.entries().into_iter().map(|e| e.key).collect();
    for (name, value) in vars.filter(|(n, _)| n.starts_with("DATAFUSION_")) {
        match keys.iter().find(|k| k.to_uppercase().replace('.', "_") == name) {
            Some(key) => match options.set(key, &value) {
                Ok(()) => tracing::info!(setting = %key, %value, "engine setting from the environment"),
                Err(e) => tracing::warn!(variable = %name, %value, error = %e, "ignored: not a value for this engine setting"),
            },
            None => tracing::warn!(variable = %name, "ignored: no engine setting has this name"),
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn environment_variables_set_datafusion_options_by_name() {
        let o = configured(vars(&[
            ("DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS", "true"),
            ("DATAFUSION_OPTIMIZER_REPARTITION_FILE_MIN_SIZE", "4096"),
            ("DATAFUSION_EXECUTION_BATCH_SIZE", "not a number"),
            ("DATAFUSION_NO_SUCH_SETTING", "1"),
            ("PATH", "/bin"),
        ]));
        assert!(o.execution.parquet.pushdown_filters);
        assert_eq!(o.optimizer.repartition_file_min_size, 4096);
        assert_eq!(o.execution.batch_size, ConfigOptions::default().execution.batch_size);
    }

    #[test]
    fn minerva_defaults_hold_without_variables() {
        let o = configured(vars(&[]));
        assert_eq!(o.optimizer.repartition_file_min_size, 1 << 20);
        assert_eq!(o.execution.parquet.pushdown_filters, ConfigOptions::default().execution.parquet.pushdown_filters);
    }
}
