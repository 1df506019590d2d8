//! `cargo run --release -p kpiscope-bench --bin rca_b0 -- [B0_ROOT]`
//!
//! Root-cause localisation on the Squeeze B0 semi-synthetic cases (default
//! `../shared/data/rca/B0`): micro-F1 per setting and overall, the Squeeze/RiskLoc way (a
//! predicted element is a true positive only when it equals a labelled element exactly), and
//! milliseconds per case (one core).

use anyhow::{Context, Result};
use kpiscope_engine::evaluate::SetMatch;
use kpiscope_engine::rca::{localize, Leaves, LocalizeConfig};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

fn load_case(path: &Path) -> Result<Leaves> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let dims: Vec<usize> = (0..headers.len()).filter(|&i| !["real", "predict"].contains(&&headers[i])).collect();
    let real = headers.iter().position(|h| h == "real").context("no real column")?;
    let predict = headers.iter().position(|h| h == "predict").context("no predict column")?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        let keys = dims.iter().map(|&i| record[i].to_string()).collect();
        rows.push((keys, record[predict].parse::<f64>()?, record[real].parse::<f64>()?));
    }
    Ok(Leaves::from_rows(dims.iter().map(|&i| headers[i].to_string()).collect(), rows))
}

fn main() -> Result<()> {
    let root = std::env::args().nth(1).unwrap_or_else(|| "../shared/data/rca/B0".into());
    let mut settings: Vec<_> =
        std::fs::read_dir(&root)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    settings.sort();
    let (mut all, mut cases, mut seconds) = (SetMatch::default(), 0usize, 0.0);
    println!("{:<28} {:>5} {:>4} {:>4} {:>4} {:>8}", "setting", "cases", "tp", "fp", "fn", "micro-F1");
    for setting in &settings {
        let mut labels: HashMap<String, String> = HashMap::new();
        let mut info = csv::Reader::from_path(setting.join("injection_info.csv"))?;
        let headers = info.headers()?.clone();
        let set_col = headers.iter().position(|h| h == "set").context("no set column")?;
        let ts_col = headers.iter().position(|h| h == "timestamp").context("no timestamp column")?;
        for record in info.records() {
            let record = record?;
            labels.insert(record[ts_col].to_string(), record[set_col].to_string());
        }
        let mut counts = SetMatch::default();
        let mut files: Vec<_> = std::fs::read_dir(setting)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n != "injection_info.csv"))
            .collect();
        files.sort();
        for file in &files {
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            let truth = labels.get(&stem).with_context(|| format!("no label for {}", file.display()))?;
            let leaves = load_case(file)?;
            let started = Instant::now();
            let found = localize(&leaves, &LocalizeConfig::default());
            seconds += started.elapsed().as_secs_f64();
            let predicted: Vec<String> = found.iter().map(|s| s.label(&leaves)).collect();
            let before = counts;
            counts.add(&predicted.join(";"), truth);
            if std::env::var_os("RCA_DEBUG").is_some() && counts.fp + counts.fn_ > before.fp + before.fn_ {
                eprintln!("{stem}: truth {truth}\n  found {predicted:?}");
            }
            cases += 1;
        }
        let name = setting.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let f1 = counts.f1().unwrap_or(0.0);
        println!("{name:<28} {:>5} {:>4} {:>4} {:>4} {f1:>8.3}", files.len(), counts.tp, counts.fp, counts.fn_);
        all.tp += counts.tp;
        all.fp += counts.fp;
        all.fn_ += counts.fn_;
    }
    let f1 = all.f1().unwrap_or(0.0);
    println!("{:<28} {cases:>5} {:>4} {:>4} {:>4} {f1:>8.3}", "overall", all.tp, all.fp, all.fn_);
    println!("localisation: {:.1} ms per case (one core)", 1000.0 * seconds / cases.max(1) as f64);
    Ok(())
}
