//! The ZIP: the report, its charts and data, and a manifest with a checksum of every file.

use crate::data::ReportData;
use crate::{charts_dir, file_name, sha256_hex, Format, ReportError};
use serde_json::json;
use std::io::Write;
use zip::write::SimpleFileOptions;
use zip::{DateTime, ZipWriter};

/// Builds the archive in memory. Entries carry a fixed timestamp, so the same inputs give the
/// same bytes.
pub(crate) fn zip(data: &ReportData, markdown: &str, pdf: &[u8]) -> Result<Vec<u8>, ReportError> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (file_name(&data.as_of, Format::Markdown), markdown.as_bytes().to_vec()),
        (file_name(&data.as_of, Format::Pdf), pdf.to_vec()),
    ];
    let charts = charts_dir(&data.as_of);
    files.extend(data.charts().map(|c| (format!("{charts}/{}", c.file), c.figure.to_svg().into_bytes())));
    files.extend(data.extracts.iter().map(|e| (format!("data/{}", e.file), e.csv.clone().into_bytes())));
    let manifest = json!({
        "generator": "kpiscope report",
        "kpiscope_version": env!("CARGO_PKG_VERSION"),
        "duckdb_version": "v1.5.6",
        "as_of": data.as_of,
        "period_start": data.period_start,
        "data_from": data.data_from,
        "data_to": data.data_to,
        "refreshed_at": data.refreshed_at,
        "kpis": data.kpis.iter().map(|k| k.key.clone()).collect::<Vec<_>>(),
        "files": files.iter().map(|(name, bytes)| json!({
            "name": name, "bytes": bytes.len(), "sha256": sha256_hex(bytes)
        })).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec_pretty(&manifest).map_err(|e| ReportError::Render(e.to_string()))?;
    files.push(("manifest.json".to_string(), manifest));

    let render = |e: zip::result::ZipError| ReportError::Render(e.to_string());
    let options = SimpleFileOptions::default().last_modified_time(DateTime::default());
    let mut writer = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in &files {
        writer.start_file(name.as_str(), options).map_err(render)?;
        writer.write_all(bytes).map_err(|e| ReportError::Render(e.to_string()))?;
    }
    Ok(writer.finish().map_err(render)?.into_inner())
}
